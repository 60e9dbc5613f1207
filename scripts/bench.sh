#!/usr/bin/env bash
# Measures charlstm against the PyTorch reference on this machine, in one run, and prints a
# Markdown section for BENCHMARKS.md.
#
#   scripts/bench.sh                      # the standard config: 2 x 512, embedding 64, batch 64, seq 100
#   BACKENDS="ndarray flex" scripts/bench.sh
#   CELL=gru BACKENDS=flex scripts/bench.sh   # the same shape with GRU (or rnn) cells
#
# Environment:
#   CELL          lstm, gru or rnn (default lstm)
#   THREADS       threads for every implementation (default: all cores)
#   BACKENDS      charlstm backends to measure (default: "ndarray flex wgpu")
#   STEPS         timed training steps on the CPU backends and PyTorch (default 10; 2 warm-up steps)
#   WGPU_STEPS    timed training steps on wgpu (default 2; 1 warm-up step: a software device is slow)
#   SAMPLE_LENGTH characters generated, timed (default 2000; per sample when batched)
#   NUM_SAMPLES   samples generated at once for the batched sampling figure (default 32)
#   VENV          where PyTorch is installed (default target/bench-venv; created on first use)
#   ISA           avx2: hold both sides to AVX2 on an AVX-512 machine, to measure the path an
#                 AVX2-only CPU takes (charlstm's own loops through CHARLSTM_ISA, PyTorch's through
#                 ATEN_CPU_CAPABILITY, MKL and oneDNN's variables). gemm, which does charlstm's
#                 training products, has no such switch: build without its `x86-v4` feature (the
#                 `gemm` line of Cargo.toml) for its AVX2 kernels too.
#   CHARLSTM_DATA_DIR  a directory holding tinyshakespeare.txt (else the download cache is used)
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${THREADS:-$(nproc)}
BACKENDS=${BACKENDS:-"ndarray flex wgpu"}
STEPS=${STEPS:-10}
WGPU_STEPS=${WGPU_STEPS:-2}
SAMPLE_LENGTH=${SAMPLE_LENGTH:-2000}
NUM_SAMPLES=${NUM_SAMPLES:-32}
CELL=${CELL:-lstm}
CONFIG=configs/tinyshakespeare.toml

# The same thread count everywhere: rayon and matrixmultiply (ndarray, flex), OpenMP and
# intra-op threads (PyTorch).
export RAYON_NUM_THREADS=$THREADS MATMUL_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
case ${ISA:-} in
  "") ;;
  avx2) export CHARLSTM_ISA=avx2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ;;
  *) echo "ISA=$ISA: only avx2 can be asked for (unset: the widest the CPU has)" >&2; exit 2 ;;
esac

cargo build --release --quiet
charlstm=${CARGO_TARGET_DIR:-target}/release/charlstm

# The corpus file, for PyTorch (charlstm finds it by name itself).
. scripts/tinyshakespeare-path.sh
corpus=$TINYSHAKESPEARE

. scripts/torch-venv.sh

results=$(mktemp)
trap 'rm -f "$results"' EXIT

for backend in $BACKENDS; do
  steps=$STEPS warmup=2
  if [ "$backend" = wgpu ]; then steps=$WGPU_STEPS warmup=1; fi
  echo "measuring charlstm on $backend..." >&2
  # The standard shape (sequence 100, as the PyTorch script's), whatever the config trains with.
  if line=$("$charlstm" bench --config "$CONFIG" --backend "$backend" --set "model.cell=$CELL" \
      --set train.seq_len=100 --set train.early_seq_len=0 --json \
      --warmup-steps "$warmup" --steps "$steps" --sample-length "$SAMPLE_LENGTH" \
      --num-samples "$NUM_SAMPLES"); then
    echo "charlstm $backend|$line" >>"$results"
  else
    echo "charlstm $backend|" >>"$results"
  fi
done

echo "measuring PyTorch..." >&2
line=$("$VENV/bin/python" scripts/pytorch_reference.py --cell "$CELL" --corpus "$corpus" --threads "$THREADS" \
  --steps "$STEPS" --sample-length "$SAMPLE_LENGTH" --num-samples "$NUM_SAMPLES")
echo "pytorch|$line" >>"$results"

"$VENV/bin/python" - "$results" "$THREADS" "$STEPS" "$WGPU_STEPS" "$CELL" <<'EOF'
import datetime, json, os, platform, sys

path, threads, steps, wgpu_steps, cell = sys.argv[1:]
rows = []
for line in open(path):
    name, _, payload = line.rstrip("\n").partition("|")
    rows.append((name, json.loads(payload) if payload else None))
reference = dict(rows)["pytorch"]
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except (OSError, StopIteration):
    cpu = platform.processor() or "unknown CPU"
# Not `nproc`: it reports OMP_NUM_THREADS, which this script sets to THREADS.
cores = os.cpu_count()
# The widest instruction set the CPU offers: gemm and charlstm's pointwise loops choose theirs
# at run time, so the figures depend on it.
try:
    flags = set(next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split())
    isa = next((f for f in ("avx512f", "avx2") if f in flags), "no AVX2")
except (OSError, StopIteration):
    isa = platform.machine()
print(f"### {datetime.date.today()} - {cpu} ({isa}), {cores} cores, {threads} threads")
print()
# The paths each side took: charlstm's own loops (its report) and PyTorch's ATen kernels.
paths = ", ".join(f"{name}: {r['isa']}" for name, r in rows if r and "isa" in r)
print(f"Instruction sets used: {paths}.")
if os.environ.get("CHARLSTM_ISA"):
    print("charlstm's training products are gemm's: CHARLSTM_ISA does not narrow them (a build"
          " without gemm's `x86-v4` feature does).")
print()
command = "scripts/bench.sh" if cell == "lstm" else f"CELL={cell} scripts/bench.sh"
print(f"Command: `{command}` (timed training steps: {steps}; wgpu: {wgpu_steps}). "
      f"Standard config: 2 x 512 {cell.upper()}, embedding 64, batch 64, sequence 100, tinyshakespeare.")
print()
samples = reference.get("num_samples")
print(f"| implementation | train chars/s | / PyTorch | sample chars/s (batch 1) | / PyTorch "
      f"| {samples} samples at once, chars/s | / batch 1 | / PyTorch | peak RSS MiB |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, r in rows:
    if r is None:
        print(f"| {name} | failed | | | | | | | |")
        continue
    label = r.get("implementation", name)
    train, sample = r["train_chars_per_s"], r["sample_chars_per_s"]
    rss = r.get("peak_rss_mib")
    rss = f"{rss:,.0f}" if rss is not None else "n/a"
    batch = r.get("batch_sample_chars_per_s")
    batch = (f"{batch:,.0f} | {batch / sample:.1f} | {batch / reference['batch_sample_chars_per_s']:.2f}"
             if batch else "n/a | | ")
    print(f"| {label if name == 'pytorch' else name} | {train:,.0f} | {train / reference['train_chars_per_s']:.2f} "
          f"| {sample:,.0f} | {sample / reference['sample_chars_per_s']:.2f} | {batch} | {rss} |")
EOF
