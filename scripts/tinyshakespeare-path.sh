# Sourced by the scripts that give PyTorch the tinyshakespeare file (charlstm finds it by name
# itself): sets $TINYSHAKESPEARE to it, from $CHARLSTM_DATA_DIR, $CHARLSTM_CACHE_DIR or the
# download cache, or exits with a one-line error.
TINYSHAKESPEARE=""
for dir in "${CHARLSTM_DATA_DIR:-}" "${CHARLSTM_CACHE_DIR:-}" "${XDG_CACHE_HOME:-$HOME/.cache}/charlstm/corpora"; do
  if [ -n "$dir" ] && [ -f "$dir/tinyshakespeare.txt" ]; then TINYSHAKESPEARE="$dir/tinyshakespeare.txt"; break; fi
done
if [ -z "$TINYSHAKESPEARE" ]; then
  echo "error: tinyshakespeare.txt not found (set CHARLSTM_DATA_DIR, or run 'charlstm train' once to download it)" >&2
  exit 1
fi
