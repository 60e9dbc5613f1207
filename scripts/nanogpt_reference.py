#!/usr/bin/env python3
"""The nanoGPT side of scripts/quality.sh: karpathy's nanoGPT, trained for a wall-clock budget.

nanoGPT is not part of this repository: give the path of a checkout (--nanogpt, or the NANOGPT
environment variable). Its train.py runs unmodified, as a child process whose working directory
is a work directory of ours (--work) holding:

  data/<dataset>/{train,val}.bin, meta.pkl  the corpus, encoded the way nanoGPT's character
                                            recipe encodes it (the sorted set of the corpus's
                                            characters, uint16 ids), but split where charlstm
                                            splits it: [train | validation | test], validation
                                            and test each floor(length * fraction) characters
                                            (no test by default: validation is the last 10%)
  configurator.py                           a symlink to the checkout's (train.py reads it
                                            relative to its working directory)
  calibration/, out/                        train.py's out_dir of the two runs below
  calibration.log, train.log, *.err         what they printed

1. Calibration: train.py with the recipe runs for --calibration-seconds (default: 5% of the
   budget, at least 20 s) from its first iteration, with at least --calibration-min-iters (3)
   and at most --calibration-iters (1000) timed iterations after its first two (which are
   slow: the first includes an estimate, and the allocator is still settling), and is
   stopped; the mean time of the later half of the timed iterations gives seconds per
   iteration. (Iteration times on a shared machine wander by 10-20% from minute to minute,
   so a calibration of seconds rather than of a few iterations. The baby GPT takes some 15 s
   an iteration on one core, so its calibration takes about two minutes.)
2. The real run: max_iters = lr_decay_iters = the iterations that fill --minutes at that speed,
   warmup_iters = min(100, max_iters / 10), eval_interval = max_iters (train.py then estimates
   the loss only before the first and after the last iteration) and always_save_checkpoint, so
   out/ckpt.pt holds the model after max_iters iterations. Training time is measured from the
   end of train.py's first estimate to its log line of iteration max_iters - 1, i.e. the wall
   time of max_iters iterations; the calibration and the estimates are outside it.
3. Scoring, by this script: the checkpoint's GPT (nanoGPT's model.py, imported from the
   checkout) predicts every character of the validation split after its first, with a sliding
   window of block_size characters moved by block_size / 2: the first window scores all its
   positions, every later one only its second half, so each character but the first
   block_size / 2 is predicted from at least block_size / 2 characters of context (from the
   validation split only; with --val-chars, of its first that many characters, as charlstm's
   data.val_chars). The mean cross-entropy over them, in nats per character, is
   "validation_loss"; train.py's own last estimate (eval_iters random windows, every position
   of each, so on average half a window of context) is "nanogpt_val_estimate".

Threads: train.py has no thread option; the child gets OMP_NUM_THREADS = MKL_NUM_THREADS =
--threads (pin the core from outside, with taskset). Seed: train.py seeds torch with 1337 and
has no option to change it, so --seed is only recorded: runs with different seeds differ only
in how many iterations the calibration buys.

Prints one JSON object on stdout; progress goes to stderr.
"""

import argparse
import contextlib
import hashlib
import json
import math
import os
import pickle
import re
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from torch.nn import functional as F

# Each recipe: the config file of the checkout, then command-line overrides. max_iters,
# lr_decay_iters, warmup_iters and the evaluation/checkpoint settings are set from the budget.
RECIPES = {
    # The README's "I only have a macbook" run: 4 x 128, context 64, batch 12, no dropout.
    "readme-cpu": (
        "config/train_shakespeare_char.py",
        ["--device=cpu", "--compile=False", "--eval_iters=20", "--log_interval=1",
         "--block_size=64", "--batch_size=12", "--n_layer=4", "--n_head=4", "--n_embd=128",
         "--dropout=0.0"],
    ),
    # The config file's own baby GPT: 6 x 384, context 256, batch 64, dropout 0.2. Only its
    # loss estimates are cut, from 200 batches to 4 (256 windows, about the README recipe's
    # 20 x 12): they are outside the budget, but 400 batches of 64 x 256 take many minutes on
    # one core, twice (before the first iteration and after the last).
    "baby-gpt": (
        "config/train_shakespeare_char.py",
        ["--device=cpu", "--compile=False", "--eval_iters=4", "--log_interval=1"],
    ),
}

ITER_LINE = re.compile(r"^iter (\d+): loss (\S+), time (\S+)ms")
STEP_LINE = re.compile(r"^step (\d+): train loss (\S+), val loss (\S+)")


def log(message):
    print(f"nanogpt_reference: {message}", file=sys.stderr, flush=True)


def prepare_data(corpus, directory, validation_fraction, test_fraction):
    """Writes train.bin, val.bin and meta.pkl; returns the validation ids, the vocabulary size
    and the number of training characters."""
    with open(corpus, encoding="utf-8", newline="") as f:
        text = f.read()
    chars = sorted(set(text))
    if len(chars) > np.iinfo(np.uint16).max + 1:
        sys.exit(f"error: {len(chars)} distinct characters do not fit nanoGPT's uint16 ids")
    stoi = {c: i for i, c in enumerate(chars)}
    ids = np.fromiter((stoi[c] for c in text), dtype=np.uint16, count=len(text))
    # As charlstm's data crate splits: [train | validation | test], each held-out part
    # floor(len * fraction) characters.
    test_len = math.floor(len(ids) * test_fraction)
    validation_len = math.floor(len(ids) * validation_fraction)
    train_end = max(0, len(ids) - test_len - validation_len)
    train_ids, validation_ids = ids[:train_end], ids[train_end : train_end + validation_len]
    os.makedirs(directory, exist_ok=True)
    train_ids.tofile(os.path.join(directory, "train.bin"))
    validation_ids.tofile(os.path.join(directory, "val.bin"))
    meta = {"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": stoi}
    with open(os.path.join(directory, "meta.pkl"), "wb") as f:
        pickle.dump(meta, f)
    return validation_ids.astype(np.int64), len(chars), len(train_ids)


def start_train(args, work, overrides, name):
    config_file, recipe = RECIPES[args.recipe]
    command = [sys.executable, "-u", os.path.join(args.nanogpt, "train.py"),
               os.path.join(args.nanogpt, config_file), *recipe, *overrides]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")  # nothing into the checkout
    with open(os.path.join(work, f"{name}.cmd"), "w") as f:
        f.write(" ".join(command) + "\n")
    return subprocess.Popen(command, cwd=work, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=open(os.path.join(work, f"{name}.err"), "w"))


def fail(process, work, name, what):
    process.kill()
    process.wait()
    tail = open(os.path.join(work, f"{name}.err")).read().strip().splitlines()[-5:]
    sys.exit(f"error: nanoGPT's train.py {what} (see {work}/{name}.log and {name}.err)"
             + ("".join(f"\n  {line}" for line in tail)))


def calibrate(args, work, dataset):
    """Seconds per training iteration of the recipe on this machine, now."""
    overrides = [f"--dataset={dataset}", "--out_dir=calibration", "--max_iters=1000000",
                 "--lr_decay_iters=1000000", "--eval_interval=1000000", "--eval_iters=1",
                 "--always_save_checkpoint=False"]
    started = time.perf_counter()
    process = start_train(args, work, overrides, "calibration")
    times = {}
    first = None
    with open(os.path.join(work, "calibration.log"), "w") as out:
        for line in process.stdout:
            out.write(line)
            match = ITER_LINE.match(line)
            if not match:
                continue
            iteration = int(match[1])
            if first is None:
                first = time.perf_counter()
            if iteration >= 2:  # iteration 0 includes the estimate, 1 is still warming up
                times[iteration] = float(match[3]) / 1000.0
            timed_out = time.perf_counter() - first >= args.calibration_seconds
            if len(times) >= args.calibration_iters or (
                timed_out and len(times) >= args.calibration_min_iters
            ):
                break
    if len(times) < max(1, min(args.calibration_iters, args.calibration_min_iters)):
        fail(process, work, "calibration", "stopped during the calibration")
    process.kill()
    process.wait()
    timed = [times[i] for i in sorted(times)]
    seconds = statistics.mean(timed[len(timed) // 2 :])
    return seconds, len(times), time.perf_counter() - started


def train(args, work, dataset, iterations):
    warmup = min(100, iterations // 10)
    overrides = [f"--dataset={dataset}", "--out_dir=out", f"--max_iters={iterations}",
                 f"--lr_decay_iters={iterations}", f"--warmup_iters={warmup}",
                 f"--eval_interval={iterations}", "--always_save_checkpoint=True"]
    process = start_train(args, work, overrides, "train")
    start = end = None
    estimate = None
    with open(os.path.join(work, "train.log"), "w") as out:
        for line in process.stdout:
            now = time.perf_counter()
            out.write(line)
            step = STEP_LINE.match(line)
            if step and int(step[1]) == 0:
                start = now
            elif step and int(step[1]) == iterations:
                estimate = {"train": float(step[2]), "val": float(step[3])}
            match = ITER_LINE.match(line)
            if match and int(match[1]) == iterations - 1:
                end = now
    if process.wait() != 0 or start is None or end is None or estimate is None:
        fail(process, work, "train", f"failed (exit status {process.returncode})")
    return end - start, estimate, warmup


def load_model(nanogpt, checkpoint_path):
    sys.path.insert(0, nanogpt)
    sys.dont_write_bytecode = True  # no __pycache__ in the checkout
    with contextlib.redirect_stdout(sys.stderr):  # model.py prints; stdout is for the JSON
        from model import GPT, GPTConfig

        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        model = GPT(GPTConfig(**checkpoint["model_args"]))
    prefix = "_orig_mod."
    state = {k[len(prefix):] if k.startswith(prefix) else k: v
             for k, v in checkpoint["model"].items()}
    model.load_state_dict(state)
    model.eval()
    return model, checkpoint


def sliding_windows(length, block_size):
    """The windows that predict characters 1 .. length - 1 of a text once each: (start, size,
    first), the inputs being characters start .. start + size - 1, the targets those one
    further on, of which the ones from index `first` in the window on are scored. The first
    window scores all its targets; each later one ends block_size // 2 characters further
    (the last one: at the end) and scores only the targets past the previous one's."""
    hop = max(1, block_size // 2)
    last = length - 1  # index of the last target
    windows = []
    scored = 0  # every target index <= scored is done
    end = min(block_size, last)
    while scored < last:
        size = min(block_size, end)
        start = end - size
        windows.append((start, size, scored - start))  # targets start + 1 + j for j >= first
        scored = end
        end = min(end + hop, last)
    return windows


@torch.no_grad()
def sliding_window_loss(model, ids, block_size, batch_windows=32):
    """Mean cross-entropy (nats) of ids[1:], each predicted from a window of at most block_size
    characters, with at least block_size // 2 of context past the first window."""
    windows = sliding_windows(len(ids), block_size)
    last = len(ids) - 1
    total, count = 0.0, 0
    data = torch.from_numpy(ids)
    for i in range(0, len(windows), batch_windows):
        group = windows[i : i + batch_windows]
        # All windows but possibly the very first (if the split is short) have one length.
        for length in sorted({w[1] for w in group}):
            same = [w for w in group if w[1] == length]
            x = torch.stack([data[s : s + length] for s, _, _ in same])
            y = torch.stack([data[s + 1 : s + 1 + length] for s, _, _ in same])
            logits, _ = model(x, y)
            losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                     reduction="none").view(len(same), length)
            for row, (_, _, first) in enumerate(same):
                total += losses[row, first:].sum().item()
                count += length - first
    assert count == last, (count, last)
    return total / count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nanogpt", default=os.environ.get("NANOGPT"),
                        help="nanoGPT checkout (default: $NANOGPT)")
    parser.add_argument("--corpus", required=True, help="UTF-8 text file")
    parser.add_argument("--work", required=True, help="work directory (made if missing)")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="readme-cpu")
    parser.add_argument("--minutes", type=float, required=True, help="wall-clock training budget")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1337,
                        help="recorded only: train.py always seeds torch with 1337")
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument("--test-fraction", type=float, default=0.0)
    parser.add_argument("--val-chars", type=int, default=0,
                        help="score only this many characters of the validation split (0: all)")
    parser.add_argument("--calibration-iters", type=int, default=1000)
    parser.add_argument("--calibration-min-iters", type=int, default=3)
    parser.add_argument("--calibration-seconds", type=float, default=None,
                        help="default: 5%% of the budget, at least 20")
    args = parser.parse_args()
    if args.calibration_seconds is None:
        args.calibration_seconds = max(20.0, 0.05 * args.minutes * 60.0)
    if not args.nanogpt or not os.path.isfile(os.path.join(args.nanogpt, "train.py")):
        parser.error("give a nanoGPT checkout with train.py (--nanogpt or NANOGPT)")
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    args.nanogpt = os.path.realpath(args.nanogpt)
    torch.set_num_threads(args.threads)

    work = os.path.realpath(args.work)
    os.makedirs(work, exist_ok=True)
    link = os.path.join(work, "configurator.py")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.join(args.nanogpt, "configurator.py"), link)
    stem = re.sub(r"[^A-Za-z0-9]+", "_", os.path.splitext(os.path.basename(args.corpus))[0])
    dataset = f"charlstm_{stem}"
    validation_ids, vocab_size, train_len = prepare_data(
        args.corpus, os.path.join(work, "data", dataset), args.validation_fraction,
        args.test_fraction)
    log(f"{train_len:,} training and {len(validation_ids):,} validation characters, "
        f"vocabulary {vocab_size}, in {work}/data/{dataset}")

    seconds_per_iter, calibration_iters, calibration_seconds = calibrate(args, work, dataset)
    iterations = max(1, round(args.minutes * 60.0 / seconds_per_iter))
    log(f"calibration: {seconds_per_iter * 1000:.1f} ms per iteration ({calibration_iters} "
        f"timed, {calibration_seconds:.0f} s in all): {iterations} iterations in {args.minutes:g} min")

    train_seconds, estimate, warmup = train(args, work, dataset, iterations)
    log(f"trained {iterations} iterations in {train_seconds:.1f} s; nanoGPT's estimate: "
        f"val loss {estimate['val']:.4f}")

    scoring_started = time.perf_counter()
    model, checkpoint = load_model(args.nanogpt, os.path.join(work, "out", "ckpt.pt"))
    if checkpoint["iter_num"] != iterations:
        sys.exit(f"error: the checkpoint is of iteration {checkpoint['iter_num']}, not {iterations}")
    config = checkpoint["config"]
    block_size = checkpoint["model_args"]["block_size"]
    scored_ids = validation_ids[: args.val_chars] if args.val_chars > 0 else validation_ids
    loss = sliding_window_loss(model, scored_ids, block_size)
    score_seconds = time.perf_counter() - scoring_started
    log(f"validation loss over the whole split: {loss:.4f} nats/char ({score_seconds:.0f} s)")

    chars_per_iter = config["batch_size"] * config["block_size"] * config["gradient_accumulation_steps"]
    with open(os.path.join(args.nanogpt, "train.py"), "rb") as f:
        train_py = hashlib.sha256(f.read()).hexdigest()[:12]
    print(json.dumps({
        "implementation": f"nanoGPT train.py (sha256 {train_py}), pytorch {torch.__version__}",
        "recipe": args.recipe,
        "model": {k: checkpoint["model_args"][k] for k in ("n_layer", "n_head", "n_embd", "block_size", "dropout")},
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch_size": config["batch_size"],
        "threads": args.threads,
        "seed": 1337,
        "requested_seed": args.seed,
        "seed_note": "train.py always seeds torch with 1337; runs differ only in max_iters",
        "calibration_ms_per_iter": round(seconds_per_iter * 1000, 1),
        "calibration_seconds": round(calibration_seconds, 1),
        "max_iters": iterations,
        "warmup_iters": warmup,
        "steps": iterations,
        "train_seconds": round(train_seconds, 1),
        "chars_per_s": round(iterations * chars_per_iter / train_seconds, 1),
        "validation_loss": round(loss, 4),
        "validation_chars": len(scored_ids),
        "validation_context": f"sliding window {block_size}, hop {max(1, block_size // 2)}",
        "nanogpt_val_estimate": round(estimate["val"], 4),
        "nanogpt_train_estimate": round(estimate["train"], 4),
        "score_seconds": round(score_seconds, 1),
    }))


if __name__ == "__main__":
    main()
