#!/usr/bin/env python3
"""Builds a corpus of Rust source code from the .rs files on this machine's Cargo registry.

    scripts/rust_corpus.py OUT MEGABYTES [--max-file-kb KB]

Files of ~/.cargo/registry/src (the crates the build downloaded, so the same Cargo.lock gives
the same text), in sorted path order, whole files only, until MEGABYTES would be exceeded.
Files with NUL bytes or invalid UTF-8 are left out, and with --max-file-kb so are files larger
than that (generated tables). The file is written beside OUT and renamed into place.
"""

import argparse
import os
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("megabytes", type=float)
    parser.add_argument("--max-file-kb", type=float, default=0.0)
    args = parser.parse_args()

    root = os.path.expanduser("~/.cargo/registry/src")
    paths = sorted(
        os.path.join(d, f) for d, _, files in os.walk(root) for f in files if f.endswith(".rs")
    )
    limit, written, used = int(args.megabytes * 1_000_000), 0, 0
    max_file = int(args.max_file_kb * 1000)
    with open(args.out + ".partial", "wb") as sink:
        for path in paths:
            with open(path, "rb") as source:
                data = source.read()
            if b"\0" in data or (max_file and len(data) > max_file):
                continue
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if written + len(data) > limit:
                break
            sink.write(data)
            written += len(data)
            used += 1
    os.rename(args.out + ".partial", args.out)
    print(f"{written} bytes from {used} of {len(paths)} .rs files", file=sys.stderr)


if __name__ == "__main__":
    main()
