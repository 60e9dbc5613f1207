#!/usr/bin/env bash
# Quality per wall-clock, side by side: trains charlstm with a config and the plain PyTorch
# script a user would write (scripts/quality_reference.py: the same model shape, batch and
# sequence length; Adam at a constant 2e-3, clip 5, no dropout) for the same budget, AT THE
# SAME TIME, ONE THREAD EACH, each pinned to its own core (the cores swap from seed to seed),
# so the machine's noise hits both alike. Prints a Markdown table of the validation loss
# (nats and bits per character), steps and chars/s of each, per seed, then mean and spread.
#
#   scripts/quality.sh                                   # default config, tinyshakespeare, 10 min, seeds 1 2 3
#   MINUTES=30 scripts/quality.sh
#   CORPUS=rust scripts/quality.sh                       # the Rust-source corpus (below)
#   SETS="train.learning_rate=3e-3 model.dropout=0" scripts/quality.sh   # charlstm overrides
#   STEPS=300 scripts/quality.sh                         # per-step parity (below)
#   VERSUS="train.learning_rate=4e-3" scripts/quality.sh  # charlstm against charlstm (below)
#   REFERENCE=nanogpt NANOGPT=/path/to/nanoGPT scripts/quality.sh   # charlstm against nanoGPT (below)
#   REFERENCE=nanogpt NANOGPT=/path/to/nanoGPT NANOGPT_RECIPE=baby-gpt scripts/quality.sh
#
# With STEPS set, both train for that many steps with the reference's recipe (charlstm gets
# a constant learning rate of 2e-3, no warm-up, no dropout, no forget-gate offset, clip 5, plus
# SETS) and report the
# validation loss every STEPS/3 steps: does a step of charlstm teach as much as one of PyTorch?
#
# With VERSUS set, the second run is charlstm again (SETS plus the VERSUS overrides) instead of
# PyTorch: a before/after row for one change, measured the same way, side by side.
#
# With REFERENCE=nanogpt, the second run is karpathy's nanoGPT instead of PyTorch, through
# scripts/nanogpt_reference.py. nanoGPT is not part of this repository: NANOGPT names a checkout
# of it, whose train.py runs unmodified with the recipe NANOGPT_RECIPE (readme-cpu: its README's
# CPU run, a 4 x 128 GPT with context 64, batch 12, no dropout; baby-gpt: its
# config/train_shakespeare_char.py, 6 x 384, context 256, batch 64, dropout 0.2). A short
# calibration first (outside the budget) times its iterations, so that max_iters and
# lr_decay_iters make its schedule fill MINUTES; its final checkpoint is then scored on
# charlstm's validation split, all of it, each character predicted with at least half a
# context of characters before it (a sliding window). train.py always seeds torch with 1337:
# its runs differ from seed to seed only in the iterations the calibration buys. Its work
# directory is OUT/<label>-<seed>-nanogpt. MINUTES budgets only (no STEPS).
#
# Environment:
#   CONFIG   charlstm config (default configs/tinyshakespeare.toml)
#   CORPUS   tinyshakespeare (default), rust (the first RUST_MB megabytes of the Cargo
#            registry's .rs files, made by scripts/rust_corpus.py; default 4, files over 100 kB
#            left out), or the path of any UTF-8 text file
#   MINUTES  wall-clock budget of each run (default 10)
#   STEPS    step budget instead (per-step parity, see above)
#   SEEDS    seeds (default "1 2 3"); charlstm and PyTorch each take the same number
#   SETS     extra charlstm --set overrides, space-separated
#   VERSUS   overrides of a second charlstm run that replaces PyTorch (see above)
#   REFERENCE  the second run: pytorch (default, scripts/quality_reference.py) or nanogpt
#   NANOGPT  with REFERENCE=nanogpt: the path of a nanoGPT checkout (a directory with train.py)
#   NANOGPT_RECIPE  with REFERENCE=nanogpt: readme-cpu (default) or baby-gpt (see above)
#   OUT      work directory (default target/quality); runs go to OUT/<label>-<seed>
#   VENV     PyTorch venv (default target/bench-venv; created on first use)
#   CHARLSTM_DATA_DIR  a directory holding tinyshakespeare.txt (else the download cache)
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIG=${CONFIG:-configs/tinyshakespeare.toml}
CORPUS=${CORPUS:-tinyshakespeare}
MINUTES=${MINUTES:-10}
STEPS=${STEPS:-}
SEEDS=${SEEDS:-"1 2 3"}
SETS=${SETS:-}
VERSUS=${VERSUS:-}
REFERENCE=${REFERENCE:-pytorch}
NANOGPT=${NANOGPT:-}
NANOGPT_RECIPE=${NANOGPT_RECIPE:-readme-cpu}
case "$REFERENCE" in
  pytorch) ;;
  nanogpt)
    if [ -z "$NANOGPT" ] || [ ! -f "$NANOGPT/train.py" ]; then
      echo "error: REFERENCE=nanogpt needs NANOGPT=<a nanoGPT checkout: a directory with train.py>${NANOGPT:+, not \"$NANOGPT\"}" >&2
      exit 1
    fi
    case "$NANOGPT_RECIPE" in
      readme-cpu | baby-gpt) ;;
      *) echo "error: NANOGPT_RECIPE is readme-cpu or baby-gpt, not '$NANOGPT_RECIPE'" >&2; exit 1 ;;
    esac
    if [ -n "$STEPS" ] || [ -n "$VERSUS" ]; then
      echo "error: REFERENCE=nanogpt takes a MINUTES budget, without STEPS or VERSUS" >&2
      exit 1
    fi
    NANOGPT=$(realpath "$NANOGPT")
    ;;
  *)
    echo "error: REFERENCE is pytorch or nanogpt, not '$REFERENCE'" >&2
    exit 1
    ;;
esac
if [ -n "$VERSUS" ]; then
  other_name="charlstm + $VERSUS"
elif [ "$REFERENCE" = nanogpt ]; then
  other_name="nanoGPT ($NANOGPT_RECIPE)"
else
  other_name=PyTorch
fi
RUST_MB=${RUST_MB:-4}
OUT=${OUT:-target/quality}
export RAYON_NUM_THREADS=1 MATMUL_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

cargo build --release --quiet
charlstm=$(realpath "${CARGO_TARGET_DIR:-target}/release/charlstm")
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
. scripts/torch-venv.sh
python="$(cd "$VENV/bin" && pwd)/python"

case "$CORPUS" in
  tinyshakespeare)
    . scripts/tinyshakespeare-path.sh
    corpus=$TINYSHAKESPEARE
    ;;
  rust)
    corpus="$OUT/rust-${RUST_MB}mb.txt"
    [ -f "$corpus" ] || python3 scripts/rust_corpus.py "$corpus" "$RUST_MB" --max-file-kb 100
    ;;
  *)
    corpus=$(realpath "$CORPUS")
    ;;
esac
label=$(basename "$corpus" .txt)

# charlstm's budget and recipe.
sets=(--set "data.corpus=$corpus" --set backend=flex --set train.epochs=1000
  --set train.eval_interval=1000000000 --set train.checkpoint_interval=0 --set train.sample_chars=0)
if [ -n "$STEPS" ]; then
  interval=$((STEPS / 3 > 0 ? STEPS / 3 : 1))
  sets+=(--set "train.max_steps=$STEPS" --set train.max_minutes=0 --set train.schedule=constant
    --set train.learning_rate=2e-3 --set train.warmup_steps=0 --set model.dropout=0
    --set model.forget_bias=0 --set train.grad_clip=5 --set "train.eval_interval=$interval")
  reference_budget=(--steps "$STEPS" --eval-at "$interval,$((2 * interval)),$((3 * interval))")
  budget="$STEPS steps"
else
  sets+=(--set "train.max_minutes=$MINUTES" --set train.max_steps=0)
  reference_budget=(--minutes "$MINUTES")
  budget="$MINUTES minutes"
fi
for pair in $SETS; do sets+=(--set "$pair"); done

# One charlstm run's figures as JSON: steps, training time, chars/s, the final validation loss
# and the validation losses measured on the way.
summarize() {
  "$python" - "$1" <<'EOF'
import csv, json, sys
run = sys.argv[1]
rows = list(csv.DictReader(open(f"{run}/metrics.csv")))
last = rows[-1]
validation = {r["step"]: float(r["validation_loss"]) for r in rows if r["validation_loss"]}
steps, seconds = int(last["step"]), float(last["wall_seconds"])
# Characters trained: each logged interval's throughput times its length (the early phase of
# train.early_seq_len has shorter steps, so steps times batch_size * seq_len would overcount).
chars, before = 0.0, 0.0
for r in rows:
    if r["chars_per_second"]:
        chars += float(r["chars_per_second"]) * (float(r["wall_seconds"]) - before)
        before = float(r["wall_seconds"])
print(json.dumps({"steps": steps, "train_seconds": seconds,
                  "chars_per_s": chars / seconds,
                  "validation_loss": float(last["validation_loss"]),
                  "validation_at": validation}))
EOF
}

results="$OUT/$label-results.jsonl"
: >"$results"
cores=(0 1)
for seed in $SEEDS; do
  run="$OUT/$label-$seed"
  rm -rf "$run" "$run-versus" "$run-nanogpt"
  echo "seed $seed: charlstm on core ${cores[0]}, $other_name on core ${cores[1]}, $budget each..." >&2
  taskset -c "${cores[0]}" "$charlstm" train --quiet --config "$CONFIG" --out "$run" \
    "${sets[@]}" --set "seed=$seed" &
  charlstm_pid=$!
  trap 'kill "$charlstm_pid" 2>/dev/null || true' EXIT
  # The reference takes the shape charlstm resolved (config file, defaults and overrides).
  for _ in $(seq 600); do
    [ -f "$run/config.toml" ] && break
    kill -0 "$charlstm_pid" 2>/dev/null || break
    sleep 0.2
  done
  if [ ! -f "$run/config.toml" ]; then
    wait "$charlstm_pid" || true
    echo "error: charlstm did not start (see above)" >&2
    exit 1
  fi
  shape=$("$python" - "$run/config.toml" "$VERSUS" "$REFERENCE" <<'EOF'
import sys, tomllib
c = tomllib.load(open(sys.argv[1], "rb"))
m, t, d = c["model"], c["train"], c["data"]
if sys.argv[3] == "nanogpt" and not sys.argv[2]:
    # nanoGPT is scored on charlstm's validation split (its characters: a character vocabulary).
    if d.get("tokenizer", "chars") != "chars" or d.get("max_vocab", 0):
        sys.exit("error: the nanoGPT side is character-level; this config's tokens are not characters")
    print(f"--validation-fraction {d['validation_fraction']} --test-fraction {d.get('test_fraction', 0.0)} "
          f"--val-chars {d.get('val_chars', 0)}")
    sys.exit()
if (m["cell"] != "lstm" or m["bidirectional"]) and not sys.argv[2]:
    sys.exit("error: the reference is a unidirectional LSTM; this config is not")
print(f"--embedding-size {m['embedding_size']} --hidden-size {m['hidden_size']} "
      f"--num-layers {m['num_layers']} --batch-size {t['batch_size']} --seq-len {t['seq_len']} "
      f"--validation-fraction {d['validation_fraction']}")
EOF
)
  if [ -n "$VERSUS" ]; then
    versus_sets=("${sets[@]}")
    for pair in $VERSUS; do versus_sets+=(--set "$pair"); done
    taskset -c "${cores[1]}" "$charlstm" train --quiet --config "$CONFIG" --out "$run-versus" \
      "${versus_sets[@]}" --set "seed=$seed"
    reference=$(summarize "$run-versus")
  elif [ "$REFERENCE" = nanogpt ]; then
    # shellcheck disable=SC2086
    reference=$(taskset -c "${cores[1]}" "$python" scripts/nanogpt_reference.py --nanogpt "$NANOGPT" \
      --recipe "$NANOGPT_RECIPE" --corpus "$corpus" --work "$run-nanogpt" --threads 1 \
      --seed "$seed" --minutes "$MINUTES" $shape)
  else
    # shellcheck disable=SC2086
    reference=$(taskset -c "${cores[1]}" "$python" scripts/quality_reference.py --corpus "$corpus" \
      --threads 1 --seed "$seed" $shape "${reference_budget[@]}")
  fi
  wait "$charlstm_pid"
  echo "{\"seed\": $seed, \"charlstm\": $(summarize "$run"), \"pytorch\": $reference}" >>"$results"
  cores=("${cores[1]}" "${cores[0]}")
done

isa=$(grep -o -m1 -w -E 'avx512f' /proc/cpuinfo || grep -o -m1 -w 'avx2' /proc/cpuinfo || echo "no AVX2")
"$python" - "$results" "$label" "$budget" "$CONFIG" "$SETS" "$isa" "$VERSUS" "$REFERENCE" "$NANOGPT_RECIPE" <<'EOF'
import datetime, json, math, platform, statistics, subprocess, sys
path, label, budget, config, sets, isa, versus, reference, recipe = sys.argv[1:]
nanogpt = reference == "nanogpt" and not versus
runs = [json.loads(line) for line in open(path)]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
print(f"### {label}, {budget}, one thread each, side by side ({datetime.date.today()})\n")
other = f"charlstm + `{versus}`" if versus else f"nanoGPT ({recipe})" if nanogpt else "PyTorch"
short = "the other" if versus else "nanoGPT" if nanogpt else "PyTorch"
if nanogpt:
    n = runs[0]["pytorch"]
    m = n["model"]
    against = (f"; nanoGPT ({recipe}): its train.py unmodified ({n['implementation']}), "
               f"{m['n_layer']} x {m['n_embd']} GPT ({n['parameters']:,} parameters), context "
               f"{m['block_size']}, batch {n['batch_size']}, dropout {m['dropout']}, max_iters "
               f"set by a calibration to fill the budget, seed fixed at 1337; scored over the "
               f"whole validation split with a {n['validation_context']}.\n")
elif versus:
    against = f"; against the same with `{versus}`.\n"
else:
    against = "; PyTorch: the same shape, Adam 2e-3 constant, clip 5, no dropout.\n"
print(f"{cpu} ({isa}); charlstm `{config}`" + (f" with `{sets}`" if sets else "") + against)
bits = lambda nats: nats / math.log(2)
print(f"| seed | charlstm val nats (bits) | steps | chars/s | {other} val nats (bits) | steps | chars/s | difference (charlstm − {short}) |")
print("|---|---|---|---|---|---|---|---|")
for r in runs:
    c, p = r["charlstm"], r["pytorch"]
    print(f"| {r['seed']} | {c['validation_loss']:.4f} ({bits(c['validation_loss']):.4f}) | {c['steps']} | "
          f"{c['chars_per_s']:,.0f} | {p['validation_loss']:.4f} ({bits(p['validation_loss']):.4f}) | "
          f"{p['steps']} | {p['chars_per_s']:,.0f} | {c['validation_loss'] - p['validation_loss']:+.4f} |")
def summary(values):
    mean = statistics.mean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.4f} ± {spread:.4f}"
c = [r["charlstm"]["validation_loss"] for r in runs]
p = [r["pytorch"]["validation_loss"] for r in runs]
d = [a - b for a, b in zip(c, p)]
cs = statistics.mean(r["charlstm"]["chars_per_s"] for r in runs)
ps = statistics.mean(r["pytorch"]["chars_per_s"] for r in runs)
print(f"| mean ± sd | {summary(c)} | | {cs:,.0f} | {summary(p)} | | {ps:,.0f} | {summary(d)} |")
if nanogpt:
    print("\nnanoGPT per seed: its own last estimate of the validation loss (train.py's `val loss`, "
          "random windows, on average half a context) against the sliding-window score above, "
          "and its calibration and training time:\n")
    print("| seed | nanoGPT's estimate | sliding window | calibrated ms/iter | iterations | training s |")
    print("|---|---|---|---|---|---|")
    for r in runs:
        n = r["pytorch"]
        print(f"| {r['seed']} | {n['nanogpt_val_estimate']:.4f} | {n['validation_loss']:.4f} | "
              f"{n['calibration_ms_per_iter']:.1f} | {n['max_iters']} | {n['train_seconds']:.1f} |")
# Steps at which every run of both sides validated (with STEPS: the same three for all).
steps = sorted(set.intersection(*({int(s) for s in r[side].get("validation_at", {})} for r in runs for side in ("charlstm", "pytorch"))))
if steps:
    print(f"\n| step | charlstm val nats (mean ± sd) | {other} val nats (mean ± sd) | difference |")
    print("|---|---|---|---|")
    for s in steps:
        c = [r["charlstm"]["validation_at"][str(s)] for r in runs]
        p = [r["pytorch"]["validation_at"][str(s)] for r in runs]
        print(f"| {s} | {summary(c)} | {summary(p)} | {statistics.mean(c) - statistics.mean(p):+.4f} |")
EOF
