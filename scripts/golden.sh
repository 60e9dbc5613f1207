#!/usr/bin/env bash
# Regenerates the PyTorch golden fixtures the LSTM, GRU and RNN tests compare against
# (crates/model/tests/fixtures/lstm_golden.json and gru_rnn_golden.json), and the training
# steps crates/train/tests/golden_training.rs compares against. Needs python3;
# installs PyTorch from PyPI into $VENV (default target/bench-venv) on first use. The fixtures
# are committed, so CI needs neither this script nor PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/torch-venv.sh
"$VENV/bin/python" scripts/golden_fixtures.py crates/model/tests/fixtures/lstm_golden.json
"$VENV/bin/python" scripts/golden_fixtures.py --gru-rnn crates/model/tests/fixtures/gru_rnn_golden.json
"$VENV/bin/python" scripts/golden_training.py crates/train/tests/fixtures/training_golden.json
