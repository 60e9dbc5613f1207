# Sourced by the scripts that need PyTorch: creates the venv in $VENV (default
# target/bench-venv) on first use and installs torch and numpy from PyPI into it.
VENV=${VENV:-target/bench-venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "installing PyTorch from PyPI into $VENV (once)..." >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet torch numpy safetensors
fi
