#!/usr/bin/env bash
# clusterlab's generalization score (core/selection: 10-fold
# cross-validated LogisticRegression(C=1, lbfgs, max_iter=100), through
# bench/logreg_run) against scikit-learn 1.2.1's
# cross_val_score(LogisticRegression(C=1, max_iter=100), x, y, cv=10)
# (bench/logreg_sklearn.py) on the same rows and labels: times, their
# ratio, and how far apart the accuracies and objectives are, in one table.
#
#   bench/logreg_compare.sh                       # MNIST pixels, 60,000 x 784, K = 10
#   DATA=blobs N=50000 D=768 K=100 bench/logreg_compare.sh   # CIFAR-100-sized
#   DATA=x.npy Y=y.npy bench/logreg_compare.sh
#   MODES="batched batched32 sequential pairs" bench/logreg_compare.sh
#
# DATA: mnist (default: GoMNIST's train pixels / 255 from the Go module
# cache, the digits as labels), blobs (clustered Gaussian rows with unequal
# feature scales, N x D, K clusters) or a .npy [n, d] float32 file scored
# with the labels of Y (.npy [n] int32). FLIP (0.2) relabels that fraction
# of rows at random for mnist and blobs, as an imperfect clustering, so
# that the fits run to max_iter as they do on real embeddings. THREADS (2):
# clusterlab's workers and scikit-learn's BLAS threads (numpy's default is
# one per core). MODES: clusterlab's ways of running the folds, timed one
# after another (batched is what core/selection does, batched32 the same
# with the products in float32; sequential and pairs are the alternatives
# batching was measured against, see logreg_run). Both
# sides time the scoring alone; cpu_seconds is all threads' CPU time, the
# steadier figure on a shared machine. Needs Go, Debian's libopenblas-dev
# and /usr/bin/python3 with numpy, scipy and scikit-learn.
set -euo pipefail

DATA=${DATA:-mnist}
N=${N:-50000}
D=${D:-768}
K=${K:-100}
FLIP=${FLIP:-0.2}
THREADS=${THREADS:-2}
MODES=${MODES:-batched}
. "$(dirname "$0")/lib.sh"
bench_setup logreg_compare sklearn python3-sklearn
echo "building: go build -o \$tmp/logreg_run ./bench/logreg_run" >&2
go build -o "$tmp/logreg_run" ./bench/logreg_run
case $DATA in
mnist | blobs)
    "$PY" bench/logreg_sklearn.py gen --source "$DATA" --n "$N" --d "$D" --k "$K" --flip "$FLIP" \
        --out-x "$tmp/x.npy" --out-y "$tmp/y.npy"
    x=$tmp/x.npy y=$tmp/y.npy
    ;;
*)
    x=$DATA y=${Y:?DATA=x.npy needs Y=labels.npy}
    ;;
esac

: >"$tmp/go.jsonl"
for mode in $MODES; do
    echo "load: $(uptime)" >&2
    echo "running clusterlab ($mode) ..." >&2
    "$tmp/logreg_run" -x "$x" -y "$y" -threads "$THREADS" -mode "$mode" >>"$tmp/go.jsonl"
done
echo "load: $(uptime)" >&2
echo "running scikit-learn ..." >&2
sk_json=$("$PY" bench/logreg_sklearn.py score --x "$x" --y "$y" --threads "$THREADS")
echo "load: $(uptime)" >&2

"$PY" - "$tmp/go.jsonl" "$sk_json" <<'PYEOF'
import json, sys
gs = [json.loads(l) for l in open(sys.argv[1])]
s = json.loads(sys.argv[2])
g0 = gs[0]
print(f"generalization score, {g0['n']} x {g0['d']}, K = {g0['k']}, {g0['folds']} folds, "
      f"LogisticRegression(C=1, lbfgs, max_iter=100)")
print("| contender | wall s | CPU s (all threads) | score | folds at max_iter |")
print("|---|---|---|---|---|")
for g in gs:
    print(f"| clusterlab {g['mode']}, {g['threads'] or 'all'} threads, OpenBLAS {g['blas']} | {g['seconds']:.1f} | "
          f"{g['cpu_seconds']:.1f} | {g['mean']:.4f} | {sum(i >= 100 for i in g['n_iter'])}/{len(g['n_iter'])} |")
print(f"| scikit-learn {s['sklearn']}, {s['threads']} threads | {s['seconds']:.1f} | {s['cpu_seconds']:.1f} | "
      f"{s['mean']:.4f} | {sum(i >= 100 for i in s['n_iter'])}/{len(s['n_iter'])} |")
for g in gs:
    fold = max(abs(a - b) for a, b in zip(g["per_fold"], s["per_fold"]))
    ratio = [a / b for a, b in zip(g["loss"], s["loss"])]
    print(f"{g['mode']}: scikit-learn / clusterlab wall time {s['seconds'] / g['seconds']:.2f}x "
          f"(CPU {s['cpu_seconds'] / g['cpu_seconds']:.2f}x); score delta {100 * (g['mean'] - s['mean']):+.2f} points, "
          f"largest fold delta {100 * fold:.2f} points; objective ratio clusterlab / scikit-learn per fold "
          f"{min(ratio):.8f} .. {max(ratio):.8f}; iterations {g['n_iter']} vs {s['n_iter']}")
PYEOF
