#!/usr/bin/env bash
# One TEMI train step (D=784, H=16, K=10, B=256, hidden 512, bottleneck
# 256; TEMI loss, AdamW, EMA teacher) on GoMLX + ONNX Runtime against the
# same step in PyTorch (bench/temi_step_torch.py), at the same thread
# counts, alternating the contenders round by round so that a change of
# machine load hits them all alike. Prints the median wall and CPU time per
# step of each contender and how many threads each really kept busy.
#
#   bench/temi_step_compare.sh            # 3 rounds, 20 timed steps, threads 1 and 2
#   ROUNDS=5 STEPS=30 THREADS="1" bench/temi_step_compare.sh
#
# Contenders, per thread count T:
#   go-onnx T   go test -tags onnx -run '^$' -bench TrainStep -benchtime ${STEPS}x ./losses/temi
#               with ORT_INTRA_OP_NUM_THREADS=T (ONNX Runtime's intra-op
#               thread pool; compute-onnx has no option for it)
#   torch T     OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/temi_step_torch.py --threads T --steps ${STEPS}
#               (the script pins torch's and OpenBLAS's thread pools to T)
# and go-onnx with ONNX Runtime's default thread count (what a user gets).
#
# The Go test binary is built once (go test -c) and run from losses/temi,
# which is what `go test` does. Needs Go, the ONNX Runtime library of
# `make setup`, and Debian's PyTorch (apt-get install -y python3-torch).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-20}
THREADS=${THREADS:-"1 2"}
. "$(dirname "$0")/lib.sh"
bench_setup temi_step_compare torch python3-torch
export GOFLAGS=${GOFLAGS:--mod=mod}
echo "building the Go benchmark: go test -tags onnx -c ./losses/temi" >&2
go test -tags onnx -c -o "$tmp/temi.test" ./losses/temi

results=$tmp/results.tsv
: >"$results"

# run_go LABEL THREADS(empty = ONNX Runtime's default)
run_go() {
    local label=$1 t=$2 out
    if ! out=$(cd losses/temi && env -u ORT_INTRA_OP_NUM_THREADS ${t:+ORT_INTRA_OP_NUM_THREADS=$t} "$tmp/temi.test" \
        -test.run '^$' -test.bench '^BenchmarkTrainStep$' -test.benchtime "${STEPS}x" 2>&1); then
        echo "$out" >&2
        echo "temi_step_compare: the Go benchmark failed (output above)" >&2
        exit 1
    fi
    local line
    line=$(grep -E '^BenchmarkTrainStep' <<<"$out" | grep 'ms/step' || true)
    if [[ -z $line ]]; then
        echo "$out" >&2
        echo "temi_step_compare: no benchmark result in the Go output (skipped? it needs -tags onnx and the ONNX Runtime library)" >&2
        exit 1
    fi
    awk -v label="$label" '{
        for (i = 2; i <= NF; i++) {
            if ($i == "ms/step") wall = $(i-1)
            if ($i == "cpu-ms/step") cpu = $(i-1)
            if ($i == "busy-threads") busy = $(i-1)
            if ($i == "runnable-threads") run = $(i-1)
        }
        printf "%s\t%s\t%s\t%s\t%s\n", label, wall, cpu, busy, run
    }' <<<"$line" >>"$results"
    grep -E 'compile \+ first step' <<<"$out" | sed "s/^ */  [$label] /" >&2 || true
}

# run_torch LABEL THREADS
run_torch() {
    local label=$1 t=$2 out
    if ! out=$(OMP_WAIT_POLICY=PASSIVE "$PY" bench/temi_step_torch.py --threads "$t" --steps "$STEPS"); then
        echo "temi_step_compare: bench/temi_step_torch.py --threads $t failed" >&2
        exit 1
    fi
    "$PY" -c 'import json, sys
r = json.loads(sys.argv[2])
print("\t".join(str(x) for x in (sys.argv[1], r["ms_per_step"], r["cpu_ms_per_step"], r["busy_threads"], r["runnable_threads"])))
print("  [%s] thread loads %s" % (sys.argv[1], r["thread_load"]), file=sys.stderr)' "$label" "$out" >>"$results"
}

# CPU ticks (1/100 s) of the whole machine from /proc/stat: all, busy
# (user, nice, system, irq, softirq) and steal (time a virtual machine's
# CPUs waited for the host).
cpu_ticks() { awk '/^cpu /{t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $2+$3+$4+$7+$8, $9}' /proc/stat; }
# CPU seconds of this script's finished children: the 2nd line of bash's
# `times`, which must run in this shell (in a pipe or $(...) it would
# report the children of a subshell), hence the file.
children_cpu() {
    times >"$tmp/times"
    awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += 60 * a[1] + a[2] } print s }' "$tmp/times"
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
read -r ticks0 busy0 steal0 < <(cpu_ticks)
children_cpu >"$tmp/children0"
start=$(date +%s.%N)
for r in $(seq "$ROUNDS"); do
    echo "round $r of $ROUNDS" >&2
    run_go "go-onnx default" ""
    for t in $THREADS; do
        run_go "go-onnx $t" "$t"
        run_torch "torch $t" "$t"
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
read -r ticks1 busy1 steal1 < <(cpu_ticks)
children_cpu >"$tmp/children1"
end=$(date +%s.%N)
steal=$(awk -v d=$((ticks1 - ticks0)) -v s=$((steal1 - steal0)) 'BEGIN { printf "%.1f%%", (d > 0 ? 100 * s / d : 0) }')
# CPU time the machine spent on anything but the benchmarks: other jobs
# make the 2-thread figures meaningless (a 2-thread run on 2 CPUs has
# nothing to spare) and disturb the 1-thread ones less.
others=$(awk -v b=$((busy1 - busy0)) -v c0="$(cat "$tmp/children0")" -v c1="$(cat "$tmp/children1")" -v t0="$start" -v t1="$end" 'BEGIN {
    o = b / 100 - (c1 - c0); if (o < 0) o = 0
    printf "%.0f CPU-seconds in %.0f s (%.2f CPUs on average)", o, t1 - t0, o / (t1 - t0) }')

echo
echo "TEMI train step, D=784 H=16 K=10 B=256 hidden 512 bottleneck 256; $STEPS timed steps per run, $ROUNDS rounds"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average before $load_before, after $load_after; CPU steal during the runs $steal"
echo "other processes used $others while the benchmarks ran; rerun on a quiet machine if that is well above 0.05 CPUs"
echo "versions: $(go version | cut -d' ' -f3), ONNX Runtime $(cat .deps/onnxruntime/VERSION 2>/dev/null || echo '?'), torch $("$PY" -c 'import torch; print(torch.__version__)')"
echo
"$PY" - "$results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, wall, cpu, busy, run = line.rstrip("\n").split("\t")
    rows.setdefault(label, []).append((float(wall), float(cpu), busy, run))
def num(v):
    return None if v in ("None", "") else float(v)
print("| contender | runs | wall ms/step (median) | CPU ms/step (median) | CPU/wall | busy threads | runnable threads | wall ms/step, all runs |")
print("|---|---|---|---|---|---|---|---|")
for label, rs in rows.items():
    wall = statistics.median(r[0] for r in rs)
    cpu = statistics.median(r[1] for r in rs)
    busy = [num(r[2]) for r in rs if num(r[2]) is not None]
    run = [num(r[3]) for r in rs if num(r[3]) is not None]
    print("| %s | %d | %.1f | %.1f | %.2f | %s | %s | %s |" % (
        label, len(rs), wall, cpu, cpu / wall,
        "%g" % statistics.median(busy) if busy else "?",
        "%.2f" % statistics.median(run) if run else "?",
        ", ".join("%.1f" % r[0] for r in rs)))
EOF
echo
echo "busy threads: threads on a CPU at least 10% of the timed wall time; runnable threads: mean number of"
echo "threads running or waiting for a CPU, sampled every 20 ms (the same measure in both programs)."
