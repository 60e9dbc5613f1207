#!/usr/bin/env python3
"""The Python reference for scripts/bench_large_corpus.sh: what nanoGPT's character setup does
with a large corpus, measured the same way as charlstm.

  prepare CORPUS OUT   read the text whole, build the sorted character vocabulary (the
                       `max_vocab - 1` most frequent characters plus an unknown id when
                       --max-vocab is given), encode it to uint8/uint16 with numpy, write OUT
  train   TOKENS VOCAB a 2 x 512 PyTorch LSTM (the model of scripts/pytorch_reference.py)
                       trained for --steps steps on batches read from np.memmap(TOKENS), the
                       streams cut as charlstm cuts them

Prints one JSON object: seconds, MB/s or seconds to the first step, and peak RSS in MiB.
"""

import argparse
import collections
import json
import resource
import sys
import time

START = time.perf_counter()


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(args):
    import numpy as np

    started = time.perf_counter()
    # newline="" keeps "\r" as charlstm does.
    with open(args.corpus, encoding="utf-8", errors="replace", newline="") as f:
        text = f.read()
    counts = collections.Counter(text)
    if args.max_vocab and len(counts) > args.max_vocab:
        kept = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: args.max_vocab - 1]]
        chars = sorted(kept)
        unknown = len(chars)
    else:
        chars = sorted(counts)
        unknown = None
    ids = {c: i for i, c in enumerate(chars)}
    dtype = np.uint8 if len(chars) + (unknown is not None) <= 256 else np.uint16
    if unknown is None:
        encoded = np.array([ids[c] for c in text], dtype=dtype)
    else:
        encoded = np.array([ids.get(c, unknown) for c in text], dtype=dtype)
    encoded.tofile(args.out)
    seconds = time.perf_counter() - started
    megabytes = len(text.encode("utf-8")) / 1e6
    print(
        json.dumps(
            {
                "seconds": seconds,
                "mb_per_s": megabytes / seconds,
                "tokens": int(encoded.size),
                "vocab": len(chars) + (unknown is not None),
                "peak_rss_mib": peak_rss_mib(),
            }
        )
    )


def train(args):
    import numpy as np
    import torch
    from torch import nn

    torch.manual_seed(0)
    tokens = np.memmap(args.tokens, dtype=np.uint8 if args.vocab <= 256 else np.uint16, mode="r")
    model = nn.ModuleDict(
        {
            "embedding": nn.Embedding(args.vocab, 64),
            "lstm": nn.LSTM(64, 512, 2, batch_first=True, dropout=0.1),
            "head": nn.Linear(512, args.vocab),
        }
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    batch, seq = 64, 100
    train_len = int(len(tokens) * 0.9)
    stream_len = (train_len - 1) // batch
    state = None
    first_step = None
    for step in range(args.steps):
        rows = [
            np.asarray(tokens[b * stream_len + step * seq : b * stream_len + step * seq + seq + 1], dtype=np.int64)
            for b in range(batch)
        ]
        chunk = torch.from_numpy(np.stack(rows))
        inputs, targets = chunk[:, :-1], chunk[:, 1:]
        output, state = model["lstm"](model["embedding"](inputs), state)
        state = tuple(s.detach() for s in state)
        loss = loss_fn(model["head"](output).reshape(-1, args.vocab), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        if first_step is None:
            first_step = time.perf_counter() - START
    print(
        json.dumps(
            {
                "seconds_to_first_step": first_step,
                "last_loss": float(loss),
                "peak_rss_mib": peak_rss_mib(),
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("corpus")
    p.add_argument("out")
    p.add_argument("--max-vocab", type=int, default=0)
    t = sub.add_parser("train")
    t.add_argument("tokens")
    t.add_argument("vocab", type=int)
    t.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    {"prepare": prepare, "train": train}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
