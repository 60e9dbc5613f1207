#!/usr/bin/env bash
# Trains model variants on one corpus with the same budget and prints a Markdown table of each
# one's best validation loss (bits/char), steps taken and, for bidirectional ones, the backward
# loss and fill accuracy. Each variant is `NAME:KEY=VALUE,KEY=VALUE...` (--set overrides on top
# of $BASE). The budget is $MINUTES of training each (equal time) or, if $STEPS is set, that
# many steps each (equal work, unaffected by other load on the machine).
#
#   scripts/compare_variants.sh lstm1:model.num_layers=1 gru1:model.cell=gru,model.num_layers=1
#   STEPS=400 scripts/compare_variants.sh shared:model.bidirectional=true separate:model.bidirectional=true,model.shared_head=false
#
# Runs go to $OUT (default target/variants/NAME) and are replaced.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-3}
STEPS=${STEPS:-}
OUT=${OUT:-${CARGO_TARGET_DIR:-target}/variants}
BASE=${BASE:-backend=flex,data.corpus=tinyshakespeare,model.hidden_size=256,train.batch_size=32,train.eval_interval=100,train.warmup_steps=50}
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/charlstm
if [ -n "$STEPS" ]; then budget="train.max_steps=$STEPS"; else budget="train.max_minutes=$MINUTES"; fi

echo "| variant | overrides | steps | params | val bits/char | backward bits/char | fill fwd / bwd / both |"
echo "|---|---|---|---|---|---|---|"
for variant in "$@"; do
  name=${variant%%:*}
  overrides=${variant#*:}
  sets=()
  IFS=, read -ra pairs <<<"$BASE,$budget,$overrides"
  for pair in "${pairs[@]}"; do sets+=(--set "$pair"); done
  rm -rf "$OUT/$name"
  "$bin" train --quiet --config configs/tinyshakespeare.toml --out "$OUT/$name" "${sets[@]}"
  info=$("$bin" info --json "$OUT/$name")
  row=$(python3 - "$info" <<'PY'
import json, math, sys
info = json.loads(sys.argv[1])
bits = lambda v: "" if v is None else f"{v / math.log(2):.4f}"
print(f"{info['steps']} | {info['parameters']} | {bits(info['best_validation_loss'])} | {bits(info.get('best_backward_validation_loss'))}")
PY
)
  fill=""
  if [[ "$overrides" == *bidirectional=true* ]]; then
    fill=$("$bin" fill --checkpoint "$OUT/$name" --evaluate --windows 100 --window 200 --seed 1 \
      | awk '/only:|combined:/ {print $NF}' | paste -sd/ | sed 's#/# / #g')
  fi
  echo "| $name | \`$overrides\` | $row | $fill |"
done
