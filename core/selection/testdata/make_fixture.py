"""Fixture for package selection, produced with scikit-learn 1.2.1.

Run from this folder with Debian's Python: /usr/bin/python3 make_fixture.py
It writes space<s>_x.npy (float32, train rows then test rows) for two
representation spaces and fixture.json with, per labelling scored:
cross_validate(LogisticRegression(C=1, solver="lbfgs", max_iter=100),
x_train, labels, cv=10) per space (the held-out accuracy of each fold, the
objective and n_iter_ of each fold's fit), the mean per space and over
spaces (TURTLE's generalization score as sklearn computes it); and the
linear probe (the same regression on the true train labels, accuracy on
the test rows).
"""
import json
import warnings

import numpy as np
import sklearn
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate


def objective(clf, x, y):
    """sklearn 1.2.1's lbfgs objective (see core/logreg/testdata)."""
    x = x.astype(np.float64)
    z = x @ clf.coef_.T + clf.intercept_
    if clf.coef_.shape[0] == 1:
        z = np.hstack([np.zeros_like(z), z])
    idx = np.searchsorted(clf.classes_, y)
    ce = logsumexp(z, axis=1) - z[np.arange(len(y)), idx]
    return float(ce.sum() + 0.5 / clf.C * np.sum(clf.coef_.astype(np.float64) ** 2))


def cv(x, y):
    x = x.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = cross_validate(LogisticRegression(C=1.0, solver="lbfgs", max_iter=100), x, y,
                             cv=10, return_estimator=True)
        splits = list(StratifiedKFold(n_splits=10).split(x, y))
    scores = res["test_score"]
    out = {"fold_acc": [None if np.isnan(s) else float(s) for s in scores],
           "mean": None if np.isnan(scores.mean()) else float(scores.mean()),
           "fold_loss": [], "fold_iter": []}
    for est, (tr, _) in zip(res["estimator"], splits):
        fitted = hasattr(est, "coef_")  # a failed fit (NaN score) is not
        out["fold_loss"].append(objective(est, x[tr], y[tr]) if fitted else None)
        out["fold_iter"].append(int(est.n_iter_[0]) if fitted else None)
    return out


def main():
    rng = np.random.default_rng(20261205)
    n_train, n_test, k_true = 700, 300, 6
    dims = (24, 40)
    y_true = rng.integers(0, k_true, size=n_train + n_test)
    spaces = []
    for s, d in enumerate(dims):
        centres = rng.normal(0.0, 0.45, size=(k_true, d))
        x = centres[y_true] + rng.normal(0.0, 1.0, size=(n_train + n_test, d))
        if s == 1:
            # Unequal feature scales: lbfgs stops at max_iter here.
            x = x * np.exp(rng.uniform(-1.0, 1.5, size=d))
        x = x.astype(np.float32)
        np.save(f"space{s}_x.npy", x)
        spaces.append(x)
    ytr, yte = y_true[:n_train], y_true[n_train:]

    labellings = {}
    # An imperfect clustering of the train rows, labels 0..7: a quarter of
    # the rows relabelled at random, label 5 merged into 4 (so 5 is an
    # empty cluster), a 4-member cluster 7 (fewer members than folds) and a
    # 1-member cluster 6 (missing from one fold's training rows).
    lab = ytr.copy()
    flip = rng.random(n_train) < 0.25
    lab[flip] = rng.integers(0, k_true, size=int(flip.sum()))
    lab[lab == 5] = 4
    picked = rng.choice(n_train, size=5, replace=False)
    lab[picked[:4]] = 7
    lab[picked[4]] = 6
    labellings["clustering"] = lab
    # Two clusters, one of a single row: sklearn's fit on the fold holding
    # it sees one class and fails (NaN score, so the mean is NaN).
    two = np.zeros(n_train, dtype=np.int64)
    two[17] = 1
    labellings["one_outlier"] = two
    # Two balanced clusters (the binomial case).
    labellings["binary"] = (ytr % 2).astype(np.int64)

    out = {"sklearn": sklearn.__version__, "n_train": n_train, "n_test": n_test, "dims": list(dims),
           "y_train": ytr.tolist(), "y_test": yte.tolist(), "labellings": []}
    for name, lab in labellings.items():
        per_space = [cv(x[:n_train], lab) for x in spaces]
        means = [p["mean"] for p in per_space]
        out["labellings"].append({
            "name": name, "labels": lab.astype(int).tolist(), "spaces": per_space,
            "score": None if any(m is None for m in means) else float(np.mean(means)),
        })
    probes = []
    for x in spaces:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = LogisticRegression(C=1.0, solver="lbfgs", max_iter=100).fit(x[:n_train].astype(np.float64), ytr)
        probes.append({"test_acc": float(np.mean(clf.predict(x[n_train:].astype(np.float64)) == yte)),
                       "loss": objective(clf, x[:n_train], ytr), "n_iter": int(clf.n_iter_[0])})
    out["probes"] = probes
    with open("fixture.json", "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
