#!/usr/bin/env python3
"""The PyTorch side of scripts/quality.sh: the plain character-LSTM script a user would write.

Embedding -> nn.LSTM (stacked) -> Linear; Adam (PyTorch's defaults, constant learning rate
2e-3), clip_grad_norm_ 5, no dropout, mean cross-entropy; truncated BPTT over `batch_size`
contiguous streams with the state carried (detached) from chunk to chunk and reset at each
epoch. The corpus is split as charlstm splits it (train, then the last `validation_fraction`
of the characters), and the validation loss is measured as charlstm measures it: the whole
validation split cut into at most `batch_size` streams, state carried, the last short chunk
kept, loss summed over every predicted character.

Training stops after `--minutes` of wall-clock time (the clock starts before the first step,
as charlstm's does) or after `--steps` steps; the validation loss is measured after training,
outside the budget, and also at every step in `--eval-at`.

Prints one JSON object on stdout.
"""

import argparse
import json
import time

import torch
from torch import nn

from reference_model import CharModel, add_shape_arguments, stream_chunks, train_step


@torch.no_grad()
def validation_loss(model, ids, batch_size, seq_len):
    model.eval()
    streams = max(1, min(batch_size, len(ids) - 1))
    total, count, state = 0.0, 0, None
    for inputs, targets in stream_chunks(ids, streams, seq_len, keep_remainder=True):
        logits, state = model(inputs, state)
        total += nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum"
        ).item()
        count += targets.numel()
    model.train()
    return total / count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="UTF-8 text file")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--minutes", type=float, default=0.0, help="wall-clock budget (0: none)")
    parser.add_argument("--steps", type=int, default=0, help="step budget (0: none)")
    parser.add_argument("--eval-at", default="", help="comma-separated steps to validate at")
    add_shape_arguments(parser)
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    args = parser.parse_args()
    if args.minutes <= 0 and args.steps <= 0:
        parser.error("give --minutes or --steps")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with open(args.corpus, encoding="utf-8") as f:
        text = f.read()
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    validation_len = int(len(ids) * args.validation_fraction)
    train_ids, validation_ids = ids[: len(ids) - validation_len], ids[len(ids) - validation_len :]

    model = CharModel(len(vocab), args.embedding_size, args.hidden_size, args.num_layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    eval_at = {int(s) for s in args.eval_at.split(",") if s}
    validation_at = {}

    budget = args.minutes * 60.0
    start = time.perf_counter()
    training_seconds = 0.0
    step = 0
    done = False
    while not done:
        state = None
        for inputs, targets in stream_chunks(train_ids, args.batch_size, args.seq_len, False):
            loss, state = train_step(
                model, optimizer, loss_fn, inputs, targets, state, args.grad_clip
            )
            step += 1
            training_seconds = time.perf_counter() - start
            if step in eval_at:
                validation_at[step] = validation_loss(
                    model, validation_ids, args.batch_size, args.seq_len
                )
                # Validation is not training time.
                start += time.perf_counter() - start - training_seconds
            if (budget > 0 and training_seconds >= budget) or step == args.steps:
                done = True
                break

    final = validation_at.get(step)
    if final is None:
        final = validation_loss(model, validation_ids, args.batch_size, args.seq_len)
    print(
        json.dumps(
            {
                "implementation": f"pytorch {torch.__version__}",
                "threads": torch.get_num_threads(),
                "steps": step,
                "train_seconds": round(training_seconds, 1),
                "chars_per_s": round(step * args.batch_size * args.seq_len / training_seconds, 1),
                "validation_loss": round(final, 4),
                "validation_at": {str(k): round(v, 4) for k, v in sorted(validation_at.items())},
            }
        )
    )


if __name__ == "__main__":
    main()
