#!/usr/bin/env bash
# Checks `charlstm export` against PyTorch: exports RUN (a run or checkpoint directory), loads
# the file into nn.Embedding -> nn.LSTM (nn.GRU, nn.RNN) -> nn.Linear and compares the logits
# of 200 tokens with charlstm's. Installs PyTorch (and safetensors) from PyPI into $VENV on
# first use.
#
#   scripts/check_export.sh runs/tinyshakespeare
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:?usage: scripts/check_export.sh RUN_DIR}
. scripts/torch-venv.sh
"$VENV/bin/python" -c "import safetensors" 2>/dev/null || "$VENV/bin/pip" install --quiet safetensors
cargo build --release --quiet
out=${CARGO_TARGET_DIR:-target}/export-check
mkdir -p "$out"
"${CARGO_TARGET_DIR:-target}/release/charlstm" export --checkpoint "$run" --out "$out/model.safetensors" --reference 200
"$VENV/bin/python" scripts/check_export.py "$out/model.safetensors"
