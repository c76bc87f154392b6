#!/usr/bin/env bash
# The exact cosine k-NN graph of clusterlab (core/neighbours on the onnx
# backend, through bench/knn_run) against numpy (float32 BLAS, blocked
# matrix products + argpartition; bench/knn_numpy.py) on the same data,
# with a check that the two graphs agree (same neighbour sets up to ties
# at the k-th place) and one table of times.
#
#   bench/knn_compare.sh                  # MNIST train pixels, 60,000 x 784, k = 50
#   DATA=random N=60000 D=784 bench/knn_compare.sh
#   DATA=path/to/x.npy K=10 bench/knn_compare.sh
#
# DATA: mnist (default; GoMNIST's files from the Go module cache), random
# (clustered random rows, N x D, from knn_run gen) or a .npy [n, d]
# float32 file. K (50), THREADS (2: numpy's BLAS threads; ONNX Runtime
# uses one thread per core). Both sides time the search alone (the
# reading of the file and, for numpy, the normalisation are left out);
# cpu_seconds is all threads' CPU time, which on a shared machine is the
# steadier figure. Needs Go, the ONNX Runtime library of `make setup`, and
# /usr/bin/python3 with numpy.
set -euo pipefail

DATA=${DATA:-mnist}
N=${N:-60000}
D=${D:-784}
K=${K:-50}
THREADS=${THREADS:-2}
. "$(dirname "$0")/lib.sh"
bench_setup knn_compare numpy python3-numpy
echo "building: go build -tags onnx ./bench/knn_run" >&2
go build -tags onnx -o "$tmp/knn_run" ./bench/knn_run
bench_data

echo "load: $(uptime)" >&2
echo "running clusterlab (onnx) ..." >&2
go_json=$("$tmp/knn_run" knn -in "$x" -k "$K" -backend onnx -out-idx "$tmp/go_idx.npy" -out-sim "$tmp/go_sim.npy")
echo "running numpy ..." >&2
np_json=$("$PY" bench/knn_numpy.py search --in "$x" --k "$K" --threads "$THREADS" \
    --out-idx "$tmp/np_idx.npy" --out-sim "$tmp/np_sim.npy")
echo "load: $(uptime)" >&2
echo "comparing the graphs ..." >&2
cmp_json=$("$PY" bench/knn_numpy.py compare --in "$x" --a-idx "$tmp/go_idx.npy" --a-sim "$tmp/go_sim.npy" \
    --b-idx "$tmp/np_idx.npy" --b-sim "$tmp/np_sim.npy") || {
    echo "$cmp_json"
    echo "knn_compare: the graphs disagree beyond ties (above)" >&2
    exit 1
}

"$PY" - "$go_json" "$np_json" "$cmp_json" <<'EOF'
import json, sys
g, p, c = (json.loads(a) for a in sys.argv[1:4])
print(f"exact cosine k-NN, {g['n']} x {g['d']}, k = {g['k']}")
print(f"| contender | wall s | CPU s (all threads) | peak RSS MB |")
print(f"|---|---|---|---|")
print(f"| clusterlab, {g['backend']} | {g['seconds']:.1f} | {g['cpu_seconds']:.1f} | {g['peak_rss_mb']:.0f} |")
print(f"| numpy {p['numpy']}, float32 BLAS, {p['threads']} threads (of which matrix products {p['matmul_seconds']:.1f} s) | {p['seconds']:.1f} | {p['cpu_seconds']:.1f} | |")
print(f"agreement: {c['identical_sets']} of {c['rows']} rows with identical neighbour sets, "
      f"{c['rows_differing_by_ties']} differing only by ties at the k-th place, "
      f"{c['rows_differing_beyond_ties']} beyond; mean overlap {c['mean_overlap']:.6f}; "
      f"max |sim - float64 cosine| of clusterlab {c['max_abs_sim_error_a_vs_float64']:.2e} on {c['checked_rows_for_sim']} rows")
EOF
