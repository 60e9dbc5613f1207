#!/usr/bin/env python3
"""The PyTorch reference for charlstm's benchmark: the same model, data layout and optimiser.

Embedding -> nn.LSTM / nn.GRU / nn.RNN (stacked; --cell) -> Linear, Adam (eps 1e-8), global gradient-norm clipping
(clip_grad_norm_), truncated BPTT over `batch_size` contiguous streams with the hidden state
carried (detached) from chunk to chunk -- what `charlstm train` does.

Prints one JSON object on stdout:
  train_chars_per_s   training throughput after warm-up, optimizer step included
  sample_chars_per_s  generation throughput at batch 1 (one step + one draw per character)
  batch_sample_chars_per_s  the same with --num-samples streams at once (all their characters)
  peak_rss_mib        peak resident memory of this process

Run it through scripts/bench.sh, which installs torch into a venv and pins the thread count.
"""

import argparse
import json
import resource
import sys
import time

import torch
from torch import nn

from reference_model import CELLS, CharModel, add_shape_arguments, stream_chunks, train_step


def measure_training(model, ids, args):
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate, eps=1e-8)
    loss_fn = nn.CrossEntropyLoss()
    state = None
    timed_steps = 0
    start = None
    data = torch.tensor(ids, dtype=torch.long)
    for step, (inputs, targets) in enumerate(stream_chunks(data, args.batch_size, args.seq_len)):
        if step == args.warmup_steps:
            start = time.perf_counter()
        if step == args.warmup_steps + args.steps:
            break
        loss, state = train_step(model, optimizer, loss_fn, inputs, targets, state, args.grad_clip)
        if step >= args.warmup_steps:
            timed_steps += 1
    loss.item()  # wait for the last step
    seconds = time.perf_counter() - start
    return timed_steps * args.batch_size * args.seq_len / seconds, float(loss.item())


@torch.no_grad()
def measure_sampling(model, vocab_size, length, streams=1):
    """Characters per second generating `streams` samples at once (one batched step, then one
    draw per stream, per character)."""
    model.eval()
    generator = torch.Generator().manual_seed(1)
    token = torch.zeros((streams, 1), dtype=torch.long)
    state = None
    for _ in range(20):  # warm-up
        logits, state = model(token, state)
    start = time.perf_counter()
    for _ in range(length):
        logits, state = model(token, state)
        probabilities = torch.softmax(logits[:, -1], dim=-1)
        token = torch.multinomial(probabilities, 1, generator=generator).view(streams, 1)
    return streams * length / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="UTF-8 text file")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    add_shape_arguments(parser)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps")
    parser.add_argument("--sample-length", type=int, default=2000)
    parser.add_argument("--num-samples", type=int, default=32, help="streams of the batched figure")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1337)
    with open(args.corpus, encoding="utf-8") as f:
        text = f.read()
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    ids = [index[c] for c in text[: int(len(text) * 0.9)]]

    model = CharModel(
        len(vocab), args.embedding_size, args.hidden_size, args.num_layers, cell=args.cell
    )
    train_rate, last_loss = measure_training(model, ids, args)
    sample_rate = measure_sampling(model, len(vocab), args.sample_length)
    batch_rate = measure_sampling(model, len(vocab), args.sample_length, args.num_samples)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    json.dump(
        {
            "implementation": f"pytorch {torch.__version__}",
            "threads": torch.get_num_threads(),
            # ATen's kernels (DEFAULT, AVX2, AVX512): ATEN_CPU_CAPABILITY can narrow them.
            "isa": torch.backends.cpu.get_cpu_capability().lower(),
            "train_chars_per_s": round(train_rate, 1),
            "sample_chars_per_s": round(sample_rate, 1),
            "num_samples": args.num_samples,
            "batch_sample_chars_per_s": round(batch_rate, 1),
            "peak_rss_mib": round(peak_kib / 1024, 1),
            "last_loss": round(last_loss, 4),
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
