#!/usr/bin/env bash
# Training speed of two charlstm binaries, alternating (A, B, A, B, ...), so the machine's
# drift hits both alike: for comparing a change against the build before it.
#
#   OLD=target/ab-old/release/charlstm NEW=target/release/charlstm scripts/ab_bench.sh
#
# Environment:
#   OLD, NEW  the two binaries (required)
#   CELL      lstm, gru or rnn (default lstm)
#   PYTORCH   1: also measure the PyTorch reference in every round, after the two builds
#             (VENV, default target/bench-venv, as scripts/bench.sh makes it)
#   THREADS   thread counts to measure (default "1 2")
#   ROUNDS    alternations per thread count (default 3)
#   STEPS     timed training steps per measurement (default 8, after 2 warm-up steps)
#   CHARLSTM_DATA_DIR  a directory holding tinyshakespeare.txt (else the download cache)
# Prints each round's train chars/s and, per thread count, NEW / OLD (and both / PyTorch).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OLD:?set OLD to the binary before the change}" "${NEW:?set NEW to the binary after it}"
THREADS=${THREADS:-"1 2"}
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-8}
CELL=${CELL:-lstm}
PYTORCH=${PYTORCH:-0}
VENV=${VENV:-target/bench-venv}
if [ "$PYTORCH" = 1 ]; then
  . scripts/tinyshakespeare-path.sh
fi

for threads in $THREADS; do
  export RAYON_NUM_THREADS=$threads MATMUL_NUM_THREADS=$threads OMP_NUM_THREADS=$threads \
    MKL_NUM_THREADS=$threads
  old=() new=() torch=()
  for round in $(seq "$ROUNDS"); do
    for side in old new; do
      binary=$OLD
      [ "$side" = new ] && binary=$NEW
      speed=$("$binary" bench --config configs/tinyshakespeare.toml --backend flex \
        --set "model.cell=$CELL" --set train.seq_len=100 --set train.early_seq_len=0 --json --warmup-steps 2 \
        --steps "$STEPS" --sample-length 100 --num-samples 2 |
        python3 -c 'import json, sys; print(round(json.load(sys.stdin)["train_chars_per_s"]))')
      echo "threads $threads, round $round, $side: $speed train chars/s"
      if [ "$side" = old ]; then old+=("$speed"); else new+=("$speed"); fi
    done
    if [ "$PYTORCH" = 1 ]; then
      speed=$("$VENV/bin/python" scripts/pytorch_reference.py --cell "$CELL" \
        --corpus "$TINYSHAKESPEARE" --threads "$threads" --steps "$STEPS" --sample-length 100 \
        --num-samples 2 |
        python3 -c 'import json, sys; print(round(json.load(sys.stdin)["train_chars_per_s"]))')
      echo "threads $threads, round $round, pytorch: $speed train chars/s"
      torch+=("$speed")
    fi
  done
  python3 - "${old[*]}" "${new[*]}" "$threads" "${torch[*]}" <<'EOF'
import statistics, sys
old, new, torch = ([float(x) for x in arg.split()] for arg in sys.argv[1:3] + sys.argv[4:5])
print(f"threads {sys.argv[3]}: NEW / OLD = {statistics.mean(new) / statistics.mean(old):.3f} "
      f"(per round: {', '.join(f'{n / o:.3f}' for o, n in zip(old, new))})")
if torch:
    for name, side in (("OLD", old), ("NEW", new)):
        print(f"threads {sys.argv[3]}: {name} / PyTorch = {statistics.mean(side) / statistics.mean(torch):.3f} "
              f"(per round: {', '.join(f'{s / t:.2f}' for s, t in zip(side, torch))})")
EOF
done
