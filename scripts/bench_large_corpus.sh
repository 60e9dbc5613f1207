#!/usr/bin/env bash
# Measures charlstm on a large corpus, against the Python/PyTorch reference (nanoGPT's way:
# read whole, encode with numpy, train from np.memmap), in one run on this machine, and prints
# a Markdown section for BENCHMARKS.md:
#   - preparation: MB/s and peak RSS, cold (nothing cached), with and without a vocabulary limit;
#   - time from start to the end of the first training step when the corpus is already prepared;
#   - peak RSS while training the 2 x 512 model of configs/tinyshakespeare.toml for STEPS steps.
#
# The corpus is made here, from text on this machine: the .rs files of the Cargo registry's
# sources (~/.cargo/registry/src), in sorted order, whole files only, up to MB megabytes
# (files with NUL bytes or invalid UTF-8 are left out).
#
#   scripts/bench_large_corpus.sh            # 100 MB, 20 training steps
#   MB=300 STEPS=50 scripts/bench_large_corpus.sh
#
# Environment: MB, STEPS, BACKEND (default flex), THREADS (default: all cores), OUT (work
# directory, default target/large-corpus), VENV (PyTorch venv, default target/bench-venv).
set -euo pipefail
cd "$(dirname "$0")/.."

MB=${MB:-100}
STEPS=${STEPS:-20}
BACKEND=${BACKEND:-flex}
THREADS=${THREADS:-$(nproc)}
OUT=${OUT:-target/large-corpus}
export RAYON_NUM_THREADS=$THREADS MATMUL_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS

cargo build --release --quiet
charlstm=$(realpath "${CARGO_TARGET_DIR:-target}/release/charlstm")
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
corpus="$OUT/rust-${MB}mb.txt"

if [ ! -f "$corpus" ]; then
  echo "building $corpus from ~/.cargo/registry/src ..." >&2
  python3 scripts/rust_corpus.py "$corpus" "$MB"
fi
bytes=$(stat -c %s "$corpus")

. scripts/torch-venv.sh

# Every run reads its corpus through the cache in $OUT/prepared.
export CHARLSTM_PREPARED_DIR="$OUT/prepared"
config=configs/tinyshakespeare.toml
data_sets=(--set "data.corpus=$corpus" --set data.val_chars=20000)
train_sets=(--set train.eval_interval=1000000 --set train.sample_chars=0 --set train.log_interval=1)

# "<seconds> <peak RSS KiB>" of a command, its stdout to $OUT/last.out.
timed() {
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" >"$OUT/last.out" 2>"$OUT/last.err" || {
    cat "$OUT/last.err" >&2
    exit 1
  }
  cat "$OUT/time.txt"
}
json_field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$OUT/last.out" "$1"; }

rows=()
for limit in 0 256; do
  rm -rf "$CHARLSTM_PREPARED_DIR"
  echo "preparing with max_vocab=$limit (cold)..." >&2
  read -r seconds kib < <(timed "$charlstm" prepare --quiet --json --config $config "${data_sets[@]}" --set "data.max_vocab=$limit")
  # Wall time of the whole command (start-up and finding the files included), as for Python.
  width=$(json_field token_bytes)
  vocab=$(json_field vocab_size)
  mbps=$(python3 -c "print(f'{$bytes/1e6/$seconds:.0f}')")
  rows+=("| charlstm prepare, max_vocab=$limit | $vocab | $width | $seconds s | **$mbps MB/s** | $((kib / 1024)) MiB |")

  echo "preparing with the Python reference, max_vocab=$limit..." >&2
  read -r seconds kib < <(timed "$VENV/bin/python" scripts/large_corpus_reference.py prepare "$corpus" "$OUT/reference.bin" --max-vocab "$limit")
  ref_vocab=$(json_field vocab)
  ref_mbps=$(python3 -c "print(f'{$bytes/1e6/$seconds:.0f}')")
  rows+=("| Python (nanoGPT's way), max_vocab=$limit | $ref_vocab | $(( ref_vocab <= 256 ? 1 : 2 )) | $seconds s | $ref_mbps MB/s | $((kib / 1024)) MiB |")
done

# The corpus is now prepared (max_vocab=256): time to the first step, and memory in training.
start_run() {
  local run="$OUT/run-$1"
  rm -rf "$run"
  local started
  started=$(date +%s.%N)
  /usr/bin/time -f "%e %M" -o "$OUT/time-$1.txt" "$charlstm" train --quiet --config $config --backend "$BACKEND" \
    "${data_sets[@]}" --set data.max_vocab=256 --set train.seq_len=100 --set train.early_seq_len=0 \
    "${train_sets[@]}" --set "train.max_steps=$2" --out "$run" \
    2>"$OUT/run-$1.err" &
  local pid=$!
  while [ ! -s "$run/metrics.csv" ] || [ "$(wc -l <"$run/metrics.csv")" -lt 2 ]; do
    if ! kill -0 $pid 2>/dev/null; then cat "$OUT/run-$1.err" >&2; exit 1; fi
    sleep 0.01
  done
  first=$(python3 -c "print(f'{$(date +%s.%N) - $started:.1f}')")
  wait $pid
  read -r _ kib <"$OUT/time-$1.txt"
  echo "$first $((kib / 1024))"
}
echo "training $STEPS steps on the prepared corpus..." >&2
read -r first_step train_rss < <(start_run warm "$STEPS")
speed=$(tail -n 1 "$OUT/run-warm/metrics.csv" | cut -d, -f6)

echo "training $STEPS steps with the PyTorch reference..." >&2
read -r _ kib < <(timed "$VENV/bin/python" scripts/large_corpus_reference.py train "$OUT/reference.bin" "$ref_vocab" --steps "$STEPS")
ref_first=$(json_field seconds_to_first_step)
ref_rss=$((kib / 1024))

cat <<EOF
## $(date +%Y-%m-%d) — a ${MB} MB corpus — $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $THREADS threads

\`scripts/bench_large_corpus.sh\` (MB=$MB STEPS=$STEPS BACKEND=$BACKEND): $bytes bytes of Rust sources from
\`~/.cargo/registry/src\`, concatenated.

Preparation, nothing cached:

| what | vocabulary | bytes/token | time | speed | peak RSS |
|---|---|---|---|---|---|
$(printf '%s\n' "${rows[@]}")

Training the 2 × 512 LSTM of \`configs/tinyshakespeare.toml\` ($BACKEND, max_vocab 256, val_chars 20000) on the
prepared corpus, $STEPS steps:

| what | start to first step done | peak RSS | chars/s (last step) |
|---|---|---|---|
| charlstm (token file reused, memory-mapped) | ${first_step} s | **${train_rss} MiB** | ${speed} |
| PyTorch from np.memmap | $(printf %.1f "$ref_first") s | ${ref_rss} MiB | |
EOF
