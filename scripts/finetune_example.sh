#!/usr/bin/env bash
# The README's fine-tuning example, measured: a tinyshakespeare model (configs/tinyshakespeare.toml,
# BASE_MINUTES on all cores) fine-tuned with `train --init-from` on another kind of text, the
# software licences every Debian or Ubuntu machine has in /usr/share/common-licenses (~245 kB,
# 21 characters Shakespeare never used: digits, brackets, quotes, tabs, ...), beside a model of
# the same shape trained on that text from scratch. The two run AT THE SAME TIME, ONE THREAD
# EACH, each pinned to its own core, for TUNE_MINUTES. Prints the validation loss on the new
# text before fine-tuning (step 0), at the end, and the scratch model's, then a sample.
#
#   scripts/finetune_example.sh
#   BASE_MINUTES=10 TUNE_MINUTES=3 OUT=target/finetune scripts/finetune_example.sh
#
# Environment:
#   BASE_MINUTES  the tinyshakespeare model's budget (default 10; reused if OUT/base exists)
#   TUNE_MINUTES  the budget of the fine-tuned and the scratch run (default 3)
#   TUNE_SETS     extra --set overrides of the fine-tuned run, space-separated
#   TEXT          the new text: a file or directory (default /usr/share/common-licenses,
#                 without its symbolic links GPL, LGPL and GFDL, which repeat other files)
#   OUT           work directory (default target/finetune)
#   CHARLSTM_DATA_DIR  a directory holding tinyshakespeare.txt (else the download cache)
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_MINUTES=${BASE_MINUTES:-10}
TUNE_MINUTES=${TUNE_MINUTES:-3}
TUNE_SETS=${TUNE_SETS:-}
TEXT=${TEXT:-/usr/share/common-licenses}
OUT=${OUT:-target/finetune}

cargo build --release --workspace --quiet
charlstm=$(realpath "${CARGO_TARGET_DIR:-target}/release/charlstm")
mkdir -p "$OUT"

text_sets=(--set "data.corpus=$TEXT")
if [ "$TEXT" = /usr/share/common-licenses ]; then
  text_sets+=(--set 'data.exclude=["GPL", "LGPL", "GFDL"]')
fi

if [ ! -d "$OUT/base/best" ]; then
  echo "training the tinyshakespeare model for $BASE_MINUTES minutes..." >&2
  "$charlstm" train --quiet --config configs/tinyshakespeare.toml --out "$OUT/base" \
    --set "train.max_minutes=$BASE_MINUTES"
fi

# Both runs validate every 20 steps; the best checkpoint is what `sample` reads.
common=(--set "train.max_minutes=$TUNE_MINUTES" --set train.max_steps=0 --set train.epochs=100000
  --set train.eval_interval=20 --set train.sample_chars=0)
tune_sets=()
for pair in $TUNE_SETS; do tune_sets+=(--set "$pair"); done
rm -rf "$OUT/tuned" "$OUT/scratch"
export RAYON_NUM_THREADS=1
echo "fine-tuning on core 0 and training from scratch on core 1, $TUNE_MINUTES minutes each..." >&2
taskset -c 0 "$charlstm" train --quiet --init-from "$OUT/base" --out "$OUT/tuned" \
  "${text_sets[@]}" "${common[@]}" "${tune_sets[@]}" &
tuned=$!
taskset -c 1 "$charlstm" train --quiet --config configs/tinyshakespeare.toml --out "$OUT/scratch" \
  "${text_sets[@]}" "${common[@]}" &
scratch=$!
wait "$tuned"
wait "$scratch"

python3 - "$OUT" <<'EOF'
import csv, sys
out = sys.argv[1]
def losses(run):
    rows = [r for r in csv.DictReader(open(f"{out}/{run}/metrics.csv")) if r["validation_loss"]]
    return [(int(r["step"]), float(r["validation_loss"])) for r in rows]
tuned, scratch = losses("tuned"), losses("scratch")
ln2 = 0.6931471805599453
row = lambda name, step, loss: print(f"| {name} | {step} | {loss:.4f} | {loss / ln2:.4f} |")
print("| model | steps | validation loss (nats/char) | bits/char |")
print("|---|---:|---:|---:|")
row("tinyshakespeare model, before fine-tuning", *tuned[0])
row("fine-tuned, best", *min(tuned[1:], key=lambda s: s[1]))
row("fine-tuned, last", *tuned[-1])
row("from scratch, best", *min(scratch, key=lambda s: s[1]))
row("from scratch, last", *scratch[-1])
EOF
"$charlstm" sample --checkpoint "$OUT/tuned" --prime "ROMEO:" --length 300 --seed 7 --temperature 0.8
