#!/usr/bin/env bash
# Checks a run's tokenizer.json in Python's `tokenizers` (PyPI): the same ids as vocab.json for
# every character of TEXT_FILE, and the text back from decoding. Installs `tokenizers` into
# $TOKENIZERS_VENV (default target/tokenizers-venv) on first use.
#
#   scripts/check_tokenizer.sh runs/tinyshakespeare ../shared/corpora/tinyshakespeare.txt
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:?usage: scripts/check_tokenizer.sh RUN_DIR TEXT_FILE}
text=${2:?usage: scripts/check_tokenizer.sh RUN_DIR TEXT_FILE}
. scripts/tokenizers-venv.sh
"$TOKENIZERS_VENV/bin/python" scripts/check_tokenizer.py "$run" "$text"
