#!/usr/bin/python3
"""scikit-learn reference of clusterlab's k-means baseline.

    kmeans_sklearn.py --in x.npy [--k 10] [--n-init 10] [--seed 0] [--threads 2] [--labels-of-go go_labels.npy]

Runs sklearn.cluster.KMeans(n_clusters=k, n_init=n_init, init="k-means++",
algorithm="lloyd", random_state=seed) on the float32 rows and prints one
JSON line: wall and CPU seconds of fit() alone, inertia_, n_iter_ of the
best run; with --labels-of-go also the adjusted Rand index and NMI between
its labels and clusterlab's (how alike the two partitions are).
"""
import argparse
import json
import os
import time


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in", dest="input", required=True)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--n-init", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--labels-of-go")
    args = p.parse_args()
    # Before numpy and sklearn load: their OpenMP and BLAS pools read these.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np
    import sklearn
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    x = np.ascontiguousarray(np.load(args.input), dtype=np.float32)
    km = KMeans(n_clusters=args.k, n_init=args.n_init, init="k-means++", algorithm="lloyd",
                random_state=args.seed)
    t0, c0 = time.perf_counter(), time.process_time()
    km.fit(x)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    out = {"n": x.shape[0], "d": x.shape[1], "k": args.k, "n_init": args.n_init, "threads": args.threads,
           "sklearn": sklearn.__version__, "seconds": round(secs, 3), "cpu_seconds": round(cpu, 3),
           "inertia": float(km.inertia_), "best_run_iters": int(km.n_iter_)}
    if args.labels_of_go:
        g = np.load(args.labels_of_go)
        out["ari_vs_go"] = float(adjusted_rand_score(g, km.labels_))
        out["nmi_vs_go"] = float(normalized_mutual_info_score(g, km.labels_))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
