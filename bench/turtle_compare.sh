#!/usr/bin/env bash
# TURTLE on MNIST pixels, side by side in one run: clusterlab's turtle loss
# plugin (the real `bin/clusterlab run`: dataset idx mnist, backbone pixels
# with pca_dims 0, loss.plugin turtle) against the PyTorch reference
# bench/turtle_torch.py on the same features (bench/turtle_features.py
# writes them; they are bit-identical to what the pixels backbone embeds),
# at the authors' defaults: T = 6000 outer iterations, B = 10000, M = 10
# inner steps, gamma 10, inner and outer lr 1e-3, cold start, K = 10.
#
#   bench/turtle_compare.sh                          # T = 6000, 1 round, THREADS "1 2 torch2 blas2", IMPLS tuned
#   ITERS=300 ROUNDS=3 bench/turtle_compare.sh       # short runs; 6000 extrapolated (labelled so)
#   ITERS=20 THREADS=1 bench/turtle_compare.sh       # a smoke test of the whole script
#   SKIP_GO=1 ITERS=50 bench/turtle_compare.sh       # the torch half only
#
# Environment:
#   ROUNDS   rounds (1); contenders alternate within a round, the order
#            reversed every other round, so that a change of machine load
#            hits them alike
#   ITERS    outer iterations per run (6000 = the authors' T). Below 6000
#            the 6000-iteration fit is EXTRAPOLATED (see Timing), and the
#            table says so
#   THREADS  torch thread settings (a list): N = N intra-op and N BLAS
#            threads; torchN = N intra-op, 1 BLAS; blasN = 1 intra-op,
#            N BLAS; tXbY = X intra-op, Y BLAS. The fastest setting gives
#            the ratio. (Debian's torch does its matrix products in
#            OpenBLAS, pthreads build, whose pool ignores
#            torch.set_num_threads: see bench/turtle_torch.py.)
#   IMPLS    bench/turtle_torch.py --impl values (a list): tuned (default:
#            class-major layout, fused first product, the inner gradient
#            written out; about 15% faster) and/or authors (the authors'
#            formulation, autograd through F.cross_entropy); every IMPLS x
#            THREADS pair is a contender, the fastest gives the ratio
#   GO_THREADS  clusterlab thread settings (a list): default (nothing
#            set) or N (GOMAXPROCS=N and ORT_INTRA_OP_NUM_THREADS=N for the
#            runner and its plugins); the fastest gives the ratio ("default")
#   BATCH (10000), INNER_STEPS (10), GAMMA (10), INNER_LR (0.001),
#   OUTER_LR (0.001), SEED (0), CHECKPOINT_EVERY (unset: the plugin's
#            default), WARM_START (unset: cold start; 1 = warm start)
#   SKIP_GO=1 / SKIP_TORCH=1   run one side only
#   TURTLE_PLUGIN   the turtle loss plugin executable to run
#            (bin/plugins/clusterlab-loss-turtle; another path is given to
#            the runner as loss.plugin, e.g. a build of a work in progress)
#   OMP_WAIT_POLICY   passed to torch; PASSIVE unless set (spinning OpenMP
#            threads steal the second core from OpenBLAS's threads)
#   KEEP=DIR  keep the run directories, features, logs and the embedding
#            cache in DIR (a rerun with the same KEEP reuses the cache)
#
# The first clusterlab run also embeds MNIST and builds the runner's k-NN
# graph (about 1.5 minutes here), into the cache shared by the runs; that
# is outside seconds.fit and outside every figure below.
#
# Timing: per-iteration times are wall times of the iterations after the
# first two (warm-up), batch drawing included, as a median and a mean;
# torch measures them in bench/turtle_torch.py, clusterlab's come from the
# run directory's history.jsonl (`seconds` of each record, one per
# iteration). The ratio line compares the medians. The whole-run column
# is, for torch, loading the .npy files + the iterations + assigning train
# and test; for clusterlab, metrics.json's seconds.fit (plugin launch to
# the last assignment; the runner's embedding and k-NN stages are not in
# it). The T=6000 column extrapolates with the MEAN (slow outliers count in
# a whole fit): fixed costs + warm-up + (6000 - 2) x mean. CPU: the
# process CPU time of all threads (torch only; on a shared machine the
# steadier figure).
#
# Needs Go's build of clusterlab (`make build`: bin/clusterlab and
# bin/plugins/clusterlab-loss-turtle), Debian's PyTorch and numpy
# (apt-get install -y python3-torch), and GoMNIST in the Go module cache.
set -euo pipefail

ROUNDS=${ROUNDS:-1}
ITERS=${ITERS:-6000}
THREADS=${THREADS:-"1 2 torch2 blas2"}
IMPLS=${IMPLS:-tuned}
GO_THREADS=${GO_THREADS:-default}
BATCH=${BATCH:-10000}
INNER_STEPS=${INNER_STEPS:-10}
GAMMA=${GAMMA:-10}
INNER_LR=${INNER_LR:-0.001}
OUTER_LR=${OUTER_LR:-0.001}
SEED=${SEED:-0}
SKIP_GO=${SKIP_GO:-0}
SKIP_TORCH=${SKIP_TORCH:-0}
T_AUTHORS=6000
. "$(dirname "$0")/lib.sh"
bench_setup turtle_compare torch python3-torch
if [[ -n ${KEEP:-} ]]; then
    mkdir -p "$KEEP"
    work=$(cd "$KEEP" && pwd)
else
    work=$tmp
fi

plugin=${TURTLE_PLUGIN:-bin/plugins/clusterlab-loss-turtle}
loss_plugin=turtle
if [[ -n ${TURTLE_PLUGIN:-} ]]; then
    loss_plugin=$(cd "$(dirname "$plugin")" && pwd)/$(basename "$plugin")
fi
if [[ $SKIP_GO != 1 && ( ! -x bin/clusterlab || ! -x $plugin ) ]]; then
    echo "turtle_compare: bin/clusterlab or $plugin is missing; run make build (or SKIP_GO=1 for the torch half)" >&2
    exit 2
fi

echo "writing the MNIST pixels as .npy: bench/turtle_features.py $work/mnist" >&2
"$PY" bench/turtle_features.py "$work/mnist" >&2
feat=(--features "$work/mnist/train.npy" --labels "$work/mnist/train_labels.npy"
    --test "$work/mnist/test.npy" --test-labels "$work/mnist/test_labels.npy")
common=(--clusters 10 --iterations "$ITERS" --batch-size "$BATCH" --inner-steps "$INNER_STEPS"
    --gamma "$GAMMA" --inner-lr "$INNER_LR" --outer-lr "$OUTER_LR" --seed "$SEED")
[[ -n ${WARM_START:-} && ${WARM_START} != 0 ]] && common+=(--warm-start)

config=$work/turtle_mnist.yaml
cat >"$config" <<EOF
# written by bench/turtle_compare.sh
experiment: turtle_compare
seed: $SEED
backend: auto
clusters: 10
runs_dir: $work/runs
cache_dir: $work/cache
dataset:
  plugin: idx
  name: mnist
backbone:
  plugin: pixels
  pca_dims: 0
baselines:
  kmeans: false
  knn_classifier: false
loss:
  plugin: $loss_plugin
  gamma: $GAMMA
  iterations: $ITERS
  inner_steps: $INNER_STEPS
  inner_lr: $INNER_LR
  outer_lr: $OUTER_LR
  batch_size: $BATCH
  warm_start: $([[ -n ${WARM_START:-} && ${WARM_START} != 0 ]] && echo true || echo false)
EOF
[[ -n ${CHECKPOINT_EVERY:-} ]] && echo "  checkpoint_every: $CHECKPOINT_EVERY" >>"$config"

stamp=$(date +%Y%m%dT%H%M%S)-$$
results=$work/$stamp-results.tsv
: >"$results"

# torch_threads SETTING: prints "INTRA BLAS" for a THREADS entry.
torch_threads() {
    case $1 in
    torch[0-9]*) echo "${1#torch} 1" ;;
    blas[0-9]*) echo "1 ${1#blas}" ;;
    t[0-9]*b[0-9]*) local x=${1#t}; echo "${x%b*} ${x#*b}" ;;
    [0-9]*) echo "$1 $1" ;;
    *) echo "turtle_compare: THREADS entry '$1' is not N, torchN, blasN or tXbY" >&2; exit 2 ;;
    esac
}

# run_torch IMPL SETTING ROUND
run_torch() {
    local impl=$1 set=$2 r=$3 intra blas out
    read -r intra blas <<<"$(torch_threads "$set")"
    echo "round $r: torch --impl $impl, threads $set (intra-op $intra, BLAS $blas)" >&2
    if ! out=$(OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} "$PY" bench/turtle_torch.py "${feat[@]}" "${common[@]}" \
        --impl "$impl" --threads "$intra" --blas-threads "$blas" --out "$work/$stamp-torch_${impl}_${set}_r$r.npy"); then
        echo "turtle_compare: bench/turtle_torch.py --impl $impl failed (threads $set)" >&2
        exit 1
    fi
    printf 'torch %s\t%s\t%s\t%s\n' "$impl" "$set" "$r" "$out" >>"$results"
}

# run_go SETTING ROUND: a fresh runs_dir per run (also across invocations
# with KEEP), so that the runner never skips a finished trial; the
# embeddings come from the shared cache.
run_go() {
    local set=$1 r=$2 envt=() dir log
    [[ $set != default ]] && envt=(GOMAXPROCS="$set" ORT_INTRA_OP_NUM_THREADS="$set")
    dir=$work/runs/$stamp-go_${set}_r$r
    log=$work/$stamp-go_${set}_r$r.log
    echo "round $r: clusterlab, threads $set" >&2
    if ! env -u ORT_INTRA_OP_NUM_THREADS "${envt[@]}" bin/clusterlab run "$config" --set runs_dir="$dir" --set trial=t >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        echo "turtle_compare: bin/clusterlab run failed (threads $set); log above and in $log" >&2
        exit 1
    fi
    printf 'go\t%s\t%s\t%s\n' "$set" "$r" "$dir/turtle_compare/t" >>"$results"
}

contenders=()
[[ $SKIP_GO != 1 ]] && for t in $GO_THREADS; do contenders+=("go:$t"); done
if [[ $SKIP_TORCH != 1 ]]; then
    for impl in $IMPLS; do
        case $impl in authors|tuned) ;; *) echo "turtle_compare: IMPLS entry '$impl' is not authors or tuned" >&2; exit 2 ;; esac
        for t in $THREADS; do torch_threads "$t" >/dev/null; contenders+=("torch:$impl:$t"); done
    done
fi
if (( ${#contenders[@]} == 0 )); then
    echo "turtle_compare: nothing to run (SKIP_GO=1 and SKIP_TORCH=1)" >&2
    exit 2
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
for r in $(seq "$ROUNDS"); do
    order=("${contenders[@]}")
    if (( r % 2 == 0 )); then
        order=()
        for (( i = ${#contenders[@]} - 1; i >= 0; i-- )); do order+=("${contenders[i]}"); done
    fi
    for c in "${order[@]}"; do
        case $c in
        go:*) run_go "${c#go:}" "$r" ;;
        torch:*) c=${c#torch:}; run_torch "${c%%:*}" "${c#*:}" "$r" ;;
        esac
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
end=$(date +%s)

echo
echo "TURTLE on MNIST pixels (60000 x 784 train, 10000 test, [0,1] float32), K = 10: B = $BATCH, M = $INNER_STEPS,"
echo "gamma $GAMMA, inner/outer lr $INNER_LR/$OUTER_LR, $([[ -n ${WARM_START:-} && ${WARM_START} != 0 ]] && echo warm || echo cold) start, seed $SEED; T = $ITERS iterations per run, $ROUNDS round(s)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average before $load_before, after $load_after; $((end - start)) s"
echo "versions: $(go version | cut -d' ' -f3), torch $("$PY" -c 'import torch; print(torch.__version__)')$(
    [[ $SKIP_GO != 1 ]] && echo ", $plugin sha256 $(sha256sum "$plugin" | cut -c1-12) built $(date -u -r "$plugin" +%Y-%m-%dT%H:%MZ)")"
echo "command: ROUNDS=$ROUNDS ITERS=$ITERS THREADS=\"$THREADS\" IMPLS=\"$IMPLS\" GO_THREADS=\"$GO_THREADS\" bench/turtle_compare.sh"
echo
"$PY" - "$results" "$ITERS" "$T_AUTHORS" <<'EOF'
import json, statistics, sys
from pathlib import Path

results, iters, t_auth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
WARMUP = 2  # iterations left out of the medians, on both sides


def go_record(run):
    """Per-iteration times, fit time, ACC of a clusterlab run directory."""
    run = Path(run)
    met = json.loads((run / "metrics.json").read_text())
    hist = [json.loads(l) for l in (run / "history.jsonl").read_text().splitlines() if l.strip()]
    # one record per iteration (`seconds`); a record covering several
    # iterations (an `iterations` count, or a jump in `iteration`) is
    # spread evenly over them
    per_iter, done = [], 0
    for h in hist:
        if "iterations" in h:
            n = int(h["iterations"])
        elif "iteration" in h:
            n = int(h["iteration"]) - done
        else:
            n = 1
        n = max(n, 1)
        per_iter += [float(h["seconds"]) / n] * n
        done += n
    timed = per_iter[WARMUP:] or per_iter
    warm = sum(per_iter[:WARMUP]) if len(per_iter) > WARMUP else 0.0
    rows = [x for x in met["results"] if x["method"] == met["loss"]]
    best = [x for x in rows if x["selection"] == "best-head"] or rows
    acc = {x["split"]: x for x in best}
    return {
        "ms": 1e3 * statistics.median(timed), "mean_ms": 1e3 * statistics.fmean(timed), "warmup_s": warm,
        "cpu_ms": None, "iters_recorded": len(per_iter),
        "fit_s": float(met["seconds"]["fit"]), "iter_s": sum(per_iter),
        "train_acc": acc.get("train", {}).get("acc"), "test_acc": acc.get("test", {}).get("acc"),
        "clusters": acc.get("train", {}).get("clusters_used"), "loss": hist[-1]["loss"] if hist else None,
    }


def torch_record(out):
    r = json.loads(out)
    return {
        "ms": r["ms_per_iter"], "mean_ms": r["ms_per_iter_mean"], "warmup_s": r["warmup_s"],
        "cpu_ms": r["cpu_ms_per_iter"], "iters_recorded": r["iterations"],
        "fit_s": r["total_s"], "iter_s": r["fit_s"],
        "train_acc": r.get("train_acc"), "test_acc": r.get("test_acc"), "clusters": r.get("clusters_used"),
        "loss": r["final_loss"],
    }


runs = {}
for line in open(results):
    who, setting, rnd, payload = line.rstrip("\n").split("\t", 3)
    rec = go_record(payload) if who == "go" else torch_record(payload)
    runs.setdefault((who, setting), []).append(rec)

med = lambda rs, k: statistics.median(r[k] for r in rs)
extrap = iters != t_auth


def at_authors_t(rs):
    # the run's fixed costs (everything but the iterations) + its warm-up
    # iterations + the other T - 2 at the MEAN time of the timed iterations
    # (not the median: slow outliers count in a whole fit); equal to the
    # measured run when iters == T
    if not extrap:
        return med(rs, "fit_s")
    fixed = med(rs, "fit_s") - med(rs, "iter_s")
    return fixed + med(rs, "warmup_s") + (t_auth - WARMUP) * med(rs, "mean_ms") / 1e3


label = f"fit at T={t_auth} s ({'EXTRAPOLATED from %d iterations' % iters if extrap else 'measured'})"
print(f"| contender | threads | runs | ms/iter (median) | ms/iter (mean) | CPU ms/iter (median) | whole run s (T={iters}) | {label} | final loss | train ACC | test ACC | clusters used |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
fmt = lambda v, f: "-" if v is None else f % v
for (who, setting), rs in runs.items():
    name = "clusterlab (bin/clusterlab run, loss turtle)" if who == "go" else \
        f"torch (bench/turtle_torch.py --impl {who.split()[1]})"
    cpu = None if rs[0]["cpu_ms"] is None else med(rs, "cpu_ms")
    print(f"| {name} | {setting} | {len(rs)} | {med(rs, 'ms'):.1f} | {med(rs, 'mean_ms'):.1f} | {fmt(cpu, '%.1f')} | {med(rs, 'fit_s'):.1f} | "
          f"{at_authors_t(rs):.0f} | {fmt(rs[-1]['loss'], '%.4f')} | {fmt(rs[-1]['train_acc'], '%.4f')} | {fmt(rs[-1]['test_acc'], '%.4f')} | "
          f"{fmt(rs[-1]['clusters'], '%d')} |")
go = {s: rs for (w, s), rs in runs.items() if w == "go"}
th = {f"{w.split()[1]} {s}": rs for (w, s), rs in runs.items() if w != "go"}
print()
if go and th:
    gs = min(go, key=lambda s: med(go[s], "ms"))
    ts = min(th, key=lambda s: med(th[s], "ms"))
    r_it = med(th[ts], "ms") / med(go[gs], "ms")
    r_fit = at_authors_t(th[ts]) / at_authors_t(go[gs])
    print(f"fastest torch ({ts}) / fastest clusterlab ({gs}): per iteration **{r_it:.2f}**, "
          f"whole fit at T={t_auth} {r_fit:.2f}{' (extrapolated)' if extrap else ''}; above 1: clusterlab is faster.")
for s, rs in go.items():
    if rs[0]["iters_recorded"] != iters:
        print(f"note: clusterlab ({s}) history.jsonl accounts for {rs[0]['iters_recorded']} iterations, not {iters}")
print("final loss, ACC, clusters: of the last run of each contender; ACC is the one-to-one (Hungarian) accuracy of")
print("the last iterate. The two sides draw batches and inits from different generators, so equal seeds do not")
print("give equal runs: ACC and loss agree only up to run-to-run spread.")
EOF
