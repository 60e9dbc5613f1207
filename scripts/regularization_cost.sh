#!/usr/bin/env bash
# The training-speed cost of each regularisation key: `charlstm bench` of the default model
# (2 × 512 LSTM, 100-character chunks) with nothing on, then with each technique alone and all
# of them together, in alternating rounds so the machine's drift hits every variant alike.
# Prints each variant's mean train chars/s and its ratio to the baseline (plain dropout is the
# baseline of locked dropout, which changes only how its masks are drawn).
#
#   scripts/regularization_cost.sh
#   THREADS=1 ROUNDS=5 scripts/regularization_cost.sh
#
# Environment:
#   BIN       the charlstm binary (default target/release/charlstm, built if missing)
#   THREADS   threads (default 2)
#   ROUNDS    alternations (default 3)
#   STEPS     timed training steps per measurement (default 8, after 2 warm-up steps)
#   CHARLSTM_DATA_DIR  a directory holding tinyshakespeare.txt (else the download cache)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/charlstm}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-8}
[ -x "$BIN" ] || cargo build --release --workspace --quiet
export RAYON_NUM_THREADS=$THREADS MATMUL_NUM_THREADS=$THREADS

variants=(
  "none|"
  "dropout 0.2|model.dropout=0.2"
  "dropout 0.2, locked|model.dropout=0.2 model.locked_dropout=true"
  "input dropout 0.1|model.input_dropout=0.1"
  "embedding dropout 0.1|model.embedding_dropout=0.1"
  "weight drop 0.25|model.weight_drop=0.25"
  "weight decay 0.1|train.weight_decay=0.1"
  "weight average 0.998|train.ema_decay=0.998"
  "all of them|model.dropout=0.2 model.locked_dropout=true model.input_dropout=0.1 model.embedding_dropout=0.1 model.weight_drop=0.25 train.weight_decay=0.1 train.ema_decay=0.998"
)

declare -A total
for round in $(seq "$ROUNDS"); do
  for variant in "${variants[@]}"; do
    name=${variant%%|*}
    sets=()
    for pair in ${variant#*|}; do sets+=(--set "$pair"); done
    speed=$("$BIN" bench --config configs/tinyshakespeare.toml --backend flex \
      --set train.seq_len=100 --set train.early_seq_len=0 "${sets[@]}" --json \
      --warmup-steps 2 --steps "$STEPS" --sample-length 20 --num-samples 0 |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["train_chars_per_s"])')
    echo "round $round: $name: $speed chars/s" >&2
    total[$name]=$(python3 -c "print(${total[$name]:-0} + $speed)")
  done
done

isa=$(grep -o -m1 -w -E 'avx512f' /proc/cpuinfo || grep -o -m1 -w 'avx2' /proc/cpuinfo || echo "no AVX2")
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
echo "### Training speed of each regularisation key ($(date +%F))"
echo
echo "$cpu ($isa), $THREADS thread(s), $ROUNDS alternating rounds of $STEPS steps, 2 × 512 LSTM, batch 64 × 100."
echo
echo "| variant | train chars/s | against its baseline |"
echo "|---|---|---|"
for variant in "${variants[@]}"; do
  name=${variant%%|*}
  baseline=none
  [ "$name" = "dropout 0.2, locked" ] && baseline="dropout 0.2"
  python3 -c "
mean = ${total[$name]} / $ROUNDS
base = ${total[$baseline]} / $ROUNDS
print(f'| $name | {mean:,.0f} | ' + ('' if '$name' == 'none' else f'{mean / base:.3f}× ($baseline)') + ' |')"
done
