#!/usr/bin/python3
"""Writes golden.json: scikit-learn's silhouette_score (Euclidean)
on small seeded cases, the reference of core/metrics' Silhouette.

Run from this folder with Debian's Python (python3-sklearn):
    /usr/bin/python3 make_golden.py
"""
import json

import numpy as np
import sklearn
from sklearn.metrics import silhouette_score

rng = np.random.default_rng(20261204)
cases = []


def add(name, x, pred):
    cases.append({
        "name": name,
        "n": int(x.shape[0]),
        "d": int(x.shape[1]),
        "x": [float(v) for v in x.ravel()],
        "pred": [int(v) for v in pred],
        "silhouette": float(silhouette_score(x, pred, metric="euclidean")),
    })


# Gaussian blobs, well and badly separated.
for name, spread in (("blobs_separated", 0.3), ("blobs_overlapping", 2.0)):
    centres = rng.normal(size=(4, 6)) * 3
    pred = rng.integers(0, 4, size=60)
    x = centres[pred] + rng.normal(size=(60, 6)) * spread
    add(name, x, pred)
# Random labels on random points: a silhouette near 0, often negative.
x = rng.normal(size=(45, 5))
add("random", x, rng.integers(0, 5, size=45))
# Singletons (silhouette 0 for them) and non-contiguous ids.
x = rng.normal(size=(20, 3))
pred = np.array([7] * 8 + [3] * 9 + [100, -2, 42])
add("singletons_noncontiguous", x, pred)
# Duplicate rows (zero distances) and L2-normalised rows, as clusterlab scores them.
x = rng.normal(size=(30, 8))
x[10:15] = x[0]
x /= np.linalg.norm(x, axis=1, keepdims=True)
add("duplicates_normalised", x, rng.integers(0, 3, size=30))

json.dump({
    "schema": {
        "summary": "sklearn.metrics.silhouette_score(x, pred, metric='euclidean') on seeded cases",
        "fields": {
            "x": "[n*d] float64, row-major",
            "pred": "[n] int cluster ids (arbitrary ints)",
            "silhouette": "scikit-learn's score",
        },
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
    },
    "cases": cases,
}, open("golden.json", "w"), indent=1)
