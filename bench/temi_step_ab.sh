#!/usr/bin/env bash
# The Go trainer against itself: the TEMI epoch benchmark (BenchmarkTrainEpoch
# of losses/temi, the step Fit runs) built from a git revision (REF, HEAD by
# default: the code before uncommitted changes) and from the working tree,
# alternated round by round so that a change of machine load hits both
# alike. For trainer optimisations on a machine shared with other jobs.
#
#   bench/temi_step_ab.sh                                   # D768_B1024, 6 steps, 5 rounds, default threads
#   REF=HEAD~1 SIZE=D384_B256 ROUNDS=3 THREADS=1 bench/temi_step_ab.sh
#
# REF is exported with `git archive` (the repository is only read). THREADS:
# "default" (ONNX Runtime's own pool) or N (ORT_INTRA_OP_NUM_THREADS=N).
# Prints per round the ms/step and CPU ms/step of both, then the medians
# and the median of the per-round ratios old/new (above 1: the working
# tree is faster; pairing the runs of a round discounts slow load drifts).
set -euo pipefail

REF=${REF:-HEAD}
SIZE=${SIZE:-D768_B1024}
STEPS=${STEPS:-6}
ROUNDS=${ROUNDS:-5}
THREADS=${THREADS:-default}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export GOMLX_NO_AUTO_INSTALL=${GOMLX_NO_AUTO_INSTALL:-1}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/old"
git archive "$REF" | tar -x -C "$tmp/old"
echo "building $REF and the working tree: go test -tags onnx -c ./losses/temi" >&2
(cd "$tmp/old" && go test -tags onnx -c -o "$tmp/old.test" ./losses/temi)
go test -tags onnx -c -o "$tmp/new.test" ./losses/temi

envt=()
[[ $THREADS != default ]] && envt=(ORT_INTRA_OP_NUM_THREADS="$THREADS")

# run NAME: prints "ms cpu_ms" of one benchmark run.
run() {
    local out line
    if ! out=$(cd losses/temi && env -u ORT_INTRA_OP_NUM_THREADS "${envt[@]}" "$tmp/$1.test" \
        -test.run '^$' -test.bench "^BenchmarkTrainEpoch/${SIZE}\$" -test.benchtime 1x -temi.epoch_steps="$STEPS" 2>&1); then
        echo "$out" >&2
        echo "temi_step_ab: the $1 benchmark failed (output above)" >&2
        exit 1
    fi
    line=$(grep -E '^BenchmarkTrainEpoch' <<<"$out" | grep 'ms/step' || true)
    if [[ -z $line ]]; then
        echo "$out" >&2
        echo "temi_step_ab: no result from the $1 benchmark (it needs -tags onnx and the ONNX Runtime library)" >&2
        exit 1
    fi
    awk '{ for (i = 2; i <= NF; i++) { if ($i == "ms/step") ms = $(i-1); if ($i == "cpu-ms/step") cpu = $(i-1) } print ms, cpu }' <<<"$line"
}

printf '%-6s %-22s %12s %12s %12s %12s\n' round load old_ms/step new_ms/step old_cpu_ms new_cpu_ms
: >"$tmp/r.txt"
for r in $(seq 1 "$ROUNDS"); do
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    if ((r % 2)); then o=$(run old); n=$(run new); else n=$(run new); o=$(run old); fi
    echo "$o $n" >>"$tmp/r.txt"
    read -r om oc <<<"$o"
    read -r nm nc <<<"$n"
    printf '%-6s %-22s %12s %12s %12s %12s\n' "$r" "$load" "$om" "$nm" "$oc" "$nc"
done
sort_median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2 }'; }
om=$(cut -d' ' -f1 "$tmp/r.txt" | sort_median)
nm=$(cut -d' ' -f3 "$tmp/r.txt" | sort_median)
oc=$(cut -d' ' -f2 "$tmp/r.txt" | sort_median)
nc=$(cut -d' ' -f4 "$tmp/r.txt" | sort_median)
printf 'median %-22s %12s %12s %12s %12s\n' "" "$om" "$nm" "$oc" "$nc"
wr=$(awk '{ print $1 / $3 }' "$tmp/r.txt" | sort_median)
cr=$(awk '{ print $2 / $4 }' "$tmp/r.txt" | sort_median)
printf 'old/new (median of the per-round ratios): wall %.3f, cpu %.3f (%s, %s threads, %s steps)\n' "$wr" "$cr" "$SIZE" "$THREADS" "$STEPS"
