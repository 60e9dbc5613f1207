# Sourced: makes $TOKENIZERS_VENV a Python venv with Hugging Face's `tokenizers` from PyPI.
TOKENIZERS_VENV=${TOKENIZERS_VENV:-${CARGO_TARGET_DIR:-target}/tokenizers-venv}
if ! "$TOKENIZERS_VENV/bin/python" -c "import tokenizers" 2>/dev/null; then
  python3 -m venv "$TOKENIZERS_VENV"
  "$TOKENIZERS_VENV/bin/pip" install --quiet --disable-pip-version-check "tokenizers>=0.22,<2"
fi
export TOKENIZERS_VENV
