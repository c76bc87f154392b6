"""Golden fixture for package logreg, produced with scikit-learn 1.2.1.

Run from this folder with Debian's Python: /usr/bin/python3 make_golden.py
It writes <name>_x.npy (float32, train rows then test rows) per dataset and
golden.json with sklearn's LogisticRegression(lbfgs, C=1) results,
StratifiedKFold(10) test folds and cross_val_score means.
"""
import json
import warnings

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from scipy.special import logsumexp


def blobs(rng, n, d, k, spread, std, scaled):
    centres = rng.normal(0.0, spread, size=(k, d))
    y = rng.integers(0, k, size=n)
    x = centres[y] + rng.normal(0.0, std, size=(n, d))
    if scaled:
        # Unequal feature scales (like raw embeddings) make lbfgs need more
        # than 100 iterations, so max_iter=100 stops short of the optimum.
        x = x * np.exp(rng.uniform(-1.0, 1.5, size=d))
    return x.astype(np.float32), y.astype(np.int32)


def objective(clf, x, y):
    """sklearn 1.2.1's lbfgs objective: sum of per-sample cross-entropy
    + 0.5/C * ||coef||^2 (intercept not penalised). For two classes sklearn
    fits one binomial vector, whose loss is log(1+exp(z)) - y z."""
    x = x.astype(np.float64)
    z = x @ clf.coef_.T + clf.intercept_
    if clf.coef_.shape[0] == 1:
        z = np.hstack([np.zeros_like(z), z])
        idx = np.searchsorted(clf.classes_, y)
    else:
        idx = np.searchsorted(clf.classes_, y)
    ce = logsumexp(z, axis=1) - z[np.arange(len(y)), idx]
    return float(ce.sum() + 0.5 / clf.C * np.sum(clf.coef_.astype(np.float64) ** 2))


def main():
    rng = np.random.default_rng(20261204)
    specs = [
        # name, n_train, n_test, d, k, spread, std, scaled
        ("blobs5", 450, 150, 20, 5, 1.0, 1.6, False),
        ("blobs10", 1125, 375, 64, 10, 0.6, 1.5, False),
        ("scaled", 450, 150, 32, 6, 0.5, 1.5, True),
        ("binary", 300, 100, 10, 2, 0.5, 1.5, False),
    ]
    out = {"sklearn": sklearn.__version__, "datasets": []}
    for name, ntr, nte, d, k, spread, std, scaled in specs:
        x, y = blobs(rng, ntr + nte, d, k, spread, std, scaled)
        np.save(f"{name}_x.npy", x)
        xtr, ytr, xte, yte = x[:ntr], y[:ntr], x[ntr:], y[ntr:]
        ds = {"name": name, "n_train": ntr, "n_test": nte, "d": d, "k": k,
              "y_train": ytr.tolist(), "y_test": yte.tolist(), "fits": []}
        for max_iter in (100, 1000):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf = LogisticRegression(C=1.0, solver="lbfgs", max_iter=max_iter)
                # float64 input: sklearn's lbfgs converts to float64 anyway.
                clf.fit(xtr.astype(np.float64), ytr)
            pred = clf.predict(xte.astype(np.float64))
            ds["fits"].append({
                "max_iter": max_iter,
                "n_iter": int(clf.n_iter_[0]),
                "loss": objective(clf, xtr, ytr),
                "coef": clf.coef_.tolist(),
                "intercept": clf.intercept_.tolist(),
                "test_acc": float(np.mean(pred == yte)),
                "pred": pred.astype(int).tolist(),
            })
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = cross_val_score(LogisticRegression(C=1.0, solver="lbfgs", max_iter=100),
                                     xtr.astype(np.float64), ytr, cv=10)
        skf = StratifiedKFold(n_splits=10)
        ds["folds"] = [te.tolist() for _, te in skf.split(xtr, ytr)]
        ds["cv_scores"] = scores.tolist()
        ds["cv_mean"] = float(scores.mean())
        out["datasets"].append(ds)

    # Fold assignment only: unbalanced labels in order of appearance that is
    # not sorted, a class smaller than the number of folds, gaps in labels.
    fold_cases = []
    y = np.concatenate([np.full(37, 7), np.full(23, 2), np.full(4, 9), np.full(1, 0), np.full(15, 3)])
    y = y[rng.permutation(len(y))]
    yy = rng.integers(0, 4, size=203)
    for yc in (y, yy):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            folds = [te.tolist() for _, te in StratifiedKFold(n_splits=10).split(np.zeros(len(yc)), yc)]
        fold_cases.append({"y": yc.astype(int).tolist(), "folds": folds})
    out["fold_cases"] = fold_cases
    with open("golden.json", "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
