#!/usr/bin/env bash
# clusterlab's k-means baseline (core/baselines on the onnx backend,
# through bench/kmeans_run) against scikit-learn's
# KMeans(n_clusters=10, n_init=10, init="k-means++", algorithm="lloyd")
# (bench/kmeans_sklearn.py) on the same data: times, inertia, and how
# alike the two partitions are (ARI, NMI), in one table.
#
#   bench/kmeans_compare.sh                     # MNIST train pixels, 60,000 x 784, K = 10, n_init = 10
#   DATA=random N=60000 D=784 bench/kmeans_compare.sh
#   DATA=path/to/x.npy K=20 bench/kmeans_compare.sh
#
# DATA: mnist (default; GoMNIST's files from the Go module cache), random
# (clustered random rows from bench/knn_run gen) or a .npy [n, d] float32
# file. K (10), N_INIT (10), SEED (0), THREADS (2: scikit-learn's OpenMP
# and BLAS threads; ONNX Runtime uses one thread per core). Both sides
# time the fit alone; cpu_seconds is all threads' CPU time, the steadier
# figure on a shared machine. Needs Go, the ONNX Runtime library of
# `make setup`, and /usr/bin/python3 with numpy and scikit-learn.
set -euo pipefail

DATA=${DATA:-mnist}
N=${N:-60000}
D=${D:-784}
K=${K:-10}
N_INIT=${N_INIT:-10}
SEED=${SEED:-0}
THREADS=${THREADS:-2}
. "$(dirname "$0")/lib.sh"
bench_setup kmeans_compare sklearn python3-sklearn
echo "building: go build -tags onnx ./bench/kmeans_run" >&2
go build -tags onnx -o "$tmp/kmeans_run" ./bench/kmeans_run
bench_data -clusters "$K"

echo "load: $(uptime)" >&2
echo "running clusterlab (onnx) ..." >&2
go_json=$("$tmp/kmeans_run" -in "$x" -k "$K" -n-init "$N_INIT" -seed "$SEED" -backend onnx -out-labels "$tmp/go_labels.npy")
echo "running scikit-learn ..." >&2
sk_json=$("$PY" bench/kmeans_sklearn.py --in "$x" --k "$K" --n-init "$N_INIT" --seed "$SEED" \
    --threads "$THREADS" --labels-of-go "$tmp/go_labels.npy")
echo "load: $(uptime)" >&2

"$PY" - "$go_json" "$sk_json" <<'PYEOF'
import json, sys
g, s = (json.loads(a) for a in sys.argv[1:3])
print(f"k-means, {g['n']} x {g['d']}, K = {g['k']}, n_init = {g['n_init']}, k-means++ + Lloyd")
print("| contender | wall s | CPU s (all threads) | inertia | Lloyd iterations of the best run |")
print("|---|---|---|---|---|")
print(f"| clusterlab, {g['backend']} | {g['seconds']:.1f} | {g['cpu_seconds']:.1f} | {g['inertia']:.6g} | {g['best_run_iters']} |")
print(f"| scikit-learn {s['sklearn']}, {s['threads']} threads | {s['seconds']:.1f} | {s['cpu_seconds']:.1f} | {s['inertia']:.6g} | {s['best_run_iters']} |")
print(f"inertia clusterlab / scikit-learn: {g['inertia'] / s['inertia']:.5f}; "
      f"partitions: ARI {s['ari_vs_go']:.4f}, NMI {s['nmi_vs_go']:.4f}; "
      f"clusterlab ran {g['lloyd_iters_all_runs']} Lloyd iterations over all {g['n_init']} runs")
PYEOF
