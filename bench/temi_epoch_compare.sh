#!/usr/bin/env bash
# TEMI training EPOCHS at TEMI's reference sizes, GoMLX + ONNX Runtime
# against PyTorch (bench/temi_epoch_torch.py), side by side in one run:
# D in {384, 768}, H = 16, K = 100, B in {256, 1024}, the trainer's default
# heads (2 layers, hidden 512, bottleneck 256), N = 50,000 random train
# embeddings and a random k-NN table (knn 50). Both contenders run the
# epoch as the Go trainer's Fit does: shuffle the anchors, draw one partner
# per anchor from its neighbours, gather the 2B rows from the train matrix
# kept in memory/on the device, then the full TEMI step (student and EMA
# teacher heads, TEMI loss, AdamW, EMA update) with the loss read back.
#
#   bench/temi_epoch_compare.sh                       # 1 round, 6 timed steps per epoch, threads "default 1"
#   ROUNDS=3 STEPS=0 bench/temi_epoch_compare.sh      # whole epochs (195 / 48 steps), 3 rounds
#   SIZES="768x1024" THREADS=default bench/temi_epoch_compare.sh
#
# STEPS > 0 times the first STEPS steps of each epoch (after 2 untimed
# warm-up steps) and extrapolates the epoch: pair drawing + N/B x the mean
# step time (both programs compute it the same way); STEPS=0 times whole
# epochs.
#
# Thread counts (THREADS, a list):
#   default  Go: ONNX Runtime's default intra-op pool (one thread per
#            physical core: 2 on the project machine; ORT_INTRA_OP_NUM_THREADS
#            unset); torch: --threads set to the same number, $(nproc) by
#            default or DEFAULT_THREADS
#   N        Go with ORT_INTRA_OP_NUM_THREADS=N, torch with --threads N
# Contenders alternate within each round and size, so that a change of
# machine load hits them alike. The table gives the median over rounds and
# the ratio torch/go of the epoch times (above 1: Go is faster).
#
# Needs Go, the ONNX Runtime library of `make setup`, and Debian's PyTorch
# (apt-get install -y python3-torch).
set -euo pipefail

ROUNDS=${ROUNDS:-1}
STEPS=${STEPS:-6}
THREADS=${THREADS:-"default 1"}
SIZES=${SIZES:-"384x256 384x1024 768x256 768x1024"}
DEFAULT_THREADS=${DEFAULT_THREADS:-$(nproc)}
. "$(dirname "$0")/lib.sh"
bench_setup temi_epoch_compare torch python3-torch
echo "building the Go benchmark: go test -tags onnx -c ./losses/temi" >&2
go test -tags onnx -c -o "$tmp/temi.test" ./losses/temi

results=$tmp/results.tsv
: >"$results"

# run_go SIZE THREADS(default or N)
run_go() {
    local size=$1 t=$2 d=${1%x*} b=${1#*x} out line
    local envt=()
    [[ $t != default ]] && envt=(ORT_INTRA_OP_NUM_THREADS="$t")
    if ! out=$(cd losses/temi && env -u ORT_INTRA_OP_NUM_THREADS "${envt[@]}" "$tmp/temi.test" \
        -test.run '^$' -test.bench "^BenchmarkTrainEpoch/D${d}_B${b}\$" -test.benchtime 1x -temi.epoch_steps="$STEPS" 2>&1); then
        echo "$out" >&2
        echo "temi_epoch_compare: the Go benchmark failed at $size (output above)" >&2
        exit 1
    fi
    line=$(grep -E '^BenchmarkTrainEpoch' <<<"$out" | grep 's/epoch' || true)
    if [[ -z $line ]]; then
        echo "$out" >&2
        echo "temi_epoch_compare: no benchmark result in the Go output (skipped? it needs -tags onnx and the ONNX Runtime library)" >&2
        exit 1
    fi
    awk -v size="$size" -v t="$t" '{
        for (i = 2; i <= NF; i++) {
            if ($i == "s/epoch") ep = $(i-1)
            if ($i == "cpu-s/epoch") cpu = $(i-1)
            if ($i == "ms/step") ms = $(i-1)
            if ($i == "busy-threads") busy = $(i-1)
            if ($i == "steps-timed/epoch") timed = $(i-1)
            if ($i == "steps/epoch") ipe = $(i-1)
        }
        printf "%s\tgo-onnx\t%s\t%s\t%s\t%s\t%s\t%s/%s\n", size, t, ep, cpu, ms, busy, timed, ipe
    }' <<<"$line" >>"$results"
}

# run_torch SIZE THREADS
run_torch() {
    local size=$1 t=$2 d=${1%x*} b=${1#*x} n=$2 out
    [[ $t == default ]] && n=$DEFAULT_THREADS
    if ! out=$(OMP_WAIT_POLICY=PASSIVE "$PY" bench/temi_epoch_torch.py --threads "$n" --dim "$d" --batch "$b" --steps "$STEPS"); then
        echo "temi_epoch_compare: bench/temi_epoch_torch.py --threads $n --dim $d --batch $b failed" >&2
        exit 1
    fi
    "$PY" -c 'import json, sys
r = json.loads(sys.argv[3])
print("\t".join(str(x) for x in (sys.argv[1], "torch", sys.argv[2], r["s_per_epoch"], r["cpu_s_per_epoch"], r["ms_per_step"],
      r["busy_threads"], "%d/%d" % (r["steps_timed"], r["steps_per_epoch"]))))' "$size" "$t" "$out" >>"$results"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
for r in $(seq "$ROUNDS"); do
    for size in $SIZES; do
        for t in $THREADS; do
            echo "round $r of $ROUNDS: $size, threads $t" >&2
            # Alternate which contender goes first from round to round.
            if (( r % 2 )); then run_go "$size" "$t"; run_torch "$size" "$t"
            else run_torch "$size" "$t"; run_go "$size" "$t"; fi
        done
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
end=$(date +%s)

echo
echo "TEMI training epoch, N=50000 random embeddings, H=16 K=100, hidden 512, bottleneck 256, knn 50;"
if (( STEPS > 0 )); then
    echo "$STEPS timed steps per epoch after 2 warm-up steps, epoch extrapolated (pair drawing + N/B x mean step); $ROUNDS round(s)"
else
    echo "whole epochs timed after 2 warm-up steps; $ROUNDS round(s)"
fi
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average before $load_before, after $load_after; $((end - start)) s"
echo "versions: $(go version | cut -d' ' -f3), ONNX Runtime $(cat .deps/onnxruntime/VERSION 2>/dev/null || echo '?'), torch $("$PY" -c 'import torch; print(torch.__version__)')"
echo "threads 'default': ONNX Runtime's default pool; torch --threads $DEFAULT_THREADS"
echo
"$PY" - "$results" <<'EOF2'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    size, who, t, ep, cpu, ms, busy, steps = line.rstrip("\n").split("\t")
    rows.setdefault((size, t), {}).setdefault(who, []).append((float(ep), float(cpu), float(ms), busy, steps))
print("| D x B | threads | steps timed/epoch | Go s/epoch | torch s/epoch | torch/Go | Go CPU s/epoch | torch CPU s/epoch | torch/Go CPU | Go ms/step | torch ms/step | busy threads Go/torch |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for (size, t), by in rows.items():
    g, p = by.get("go-onnx", []), by.get("torch", [])
    if not g or not p:
        continue
    med = lambda rs, i: statistics.median(r[i] for r in rs)
    print("| %s | %s | %s | %.1f | %.1f | **%.2f** | %.1f | %.1f | %.2f | %.0f | %.0f | %s/%s |" % (
        size.replace("x", " x "), t, g[0][4], med(g, 0), med(p, 0), med(p, 0) / med(g, 0),
        med(g, 1), med(p, 1), med(p, 1) / med(g, 1), med(g, 2), med(p, 2), g[-1][3], p[-1][3]))
EOF2
echo
echo "torch/Go above 1: the Go trainer is faster. CPU: process CPU time of all threads (on a busy machine the"
echo "wall times of the 2-thread runs suffer most; the CPU figures less so)."
