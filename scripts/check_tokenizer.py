"""Checks a run's tokenizer.json in Python's `tokenizers` (from PyPI): it must give, for every
character of TEXT_FILE, the id that the run's vocab.json gives it, and decode back to the text.

    python scripts/check_tokenizer.py RUN_DIR TEXT_FILE
"""

import json
import sys

from tokenizers import Tokenizer


def main() -> None:
    run_dir, text_file = sys.argv[1], sys.argv[2]
    tokenizer = Tokenizer.from_file(f"{run_dir}/tokenizer.json")
    with open(f"{run_dir}/vocab.json", encoding="utf-8") as f:
        vocab = json.load(f)
    chars = vocab["chars"]
    # A size-limited vocabulary (data.max_vocab) maps other characters to <unk>, id len(chars).
    unknown = len(chars) if vocab.get("unknown") else None
    with open(text_file, encoding="utf-8", newline="") as f:
        text = f.read()
    ids = {c: i for i, c in enumerate(chars)}
    expected = [ids.get(c, unknown) for c in text]
    got = tokenizer.encode(text, add_special_tokens=False).ids
    if got != expected:
        first = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b) if len(got) == len(expected) else None
        sys.exit(f"ids differ: {len(got)} from tokenizers, {len(expected)} expected; first difference at {first}")
    if unknown is None and tokenizer.decode(got) != text:
        sys.exit("decoding the ids does not give the text back")
    size = len(chars) + (unknown is not None)
    if tokenizer.get_vocab_size() != size:
        sys.exit(f"vocabulary size {tokenizer.get_vocab_size()}, expected {size}")
    print(f"tokenizers {sys.modules['tokenizers'].__version__}: {len(got)} ids match vocab.json, "
          f"vocabulary {size}" + (", decode gives the text back" if unknown is None else ", with <unk>"))


if __name__ == "__main__":
    main()
