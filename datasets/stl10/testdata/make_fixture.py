#!/usr/bin/python3
"""Writes a tiny STL-10 in the official layout and byte order, and the arrays
torchvision's STL10 reads from it, for the tests of the stl10 dataset plugin.

    /usr/bin/python3 datasets/stl10/testdata/make_fixture.py [OUTPUT_DIR]

Needs Python 3 with NumPy (Debian: python3-numpy); with torchvision
(python3-torchvision) and Pillow the expected arrays come from
torchvision.datasets.STL10 itself, else the script stops. The output is
deterministic.

What is written, beside this script unless OUTPUT_DIR is given:

  stl10_binary.tar.gz  the folder stl10_binary/ as the official archive holds
      it, in its member order: test_X.bin, test_y.bin, train_X.bin,
      train_y.bin, unlabeled_X.bin, class_names.txt, fold_indices.txt.
      6 train, 4 test and 5 unlabeled images of 96x96x3.
  expected.npz  what torchvision.datasets.STL10 delivers for that folder
      (download=False), each image as PIL.Image.fromarray(np.transpose(img,
      (1, 2, 0))) gives it, i.e. HWC uint8 RGB, upright:
        <key>_images  uint8 [N, 96, 96, 3]
        <key>_labels  int64 [N] (0-based; -1 for unlabeled images)
      for the keys train, test, unlabeled, train+unlabeled (split=...,
      folds=None), train_fold0, train_fold9 and train+unlabeled_fold3.

The format, from the STL-10 page: *_X.bin hold uint8 images of 3*96*96
bytes, the red, then the green, then the blue 96x96 plane, each plane in
column-major order (byte x*96+y of a plane is the pixel at row y, column
x); *_y.bin hold one uint8 label per image, 1..10; class_names.txt names
label i on line i; fold_indices.txt has ten lines of space-separated,
0-based indices into the train images.

torchvision checks the md5 sums of the real files before it reads them;
those of this fixture differ, so the check (STL10._check_integrity) is
replaced by one that passes; everything torchvision reads and how it reads
it is its own.

Pixel (row y, column x, channel c) of image k of a split is
(salt + 37k + 85c + 7y + 3x + (x*y mod 11)) mod 256: not symmetric in x and
y, so a transposed or flipped image shows. fixture_test.go mirrors pixel()
and the labels for a few literal checks.
"""

import gzip
import io
import os
import sys
import tarfile
import tempfile
import zipfile

import numpy as np

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
MTIME = 1306022400  # fixed, for a deterministic archive (2011-05-22)
SIDE = 96
CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
N_TRAIN, N_TEST, N_UNLABELED = 6, 4, 5
SALT = {"train": 0, "test": 101, "unlabeled": 202}


def upright(split, n):
    """The images of a split as they should be seen: [n, 3, 96, 96] (C, H, W)."""
    k, c, y, x = np.indices((n, 3, SIDE, SIDE))
    return ((SALT[split] + 37 * k + 85 * c + 7 * y + 3 * x + (x * y) % 11) % 256).astype(np.uint8)


def labels(split, n):
    """1-based labels as in *_y.bin; both ends of 1..10 occur."""
    first = 0 if split == "train" else N_TRAIN
    return np.array([(7 * (first + i) + 3) % 10 + 1 for i in range(n)], dtype=np.uint8)


def x_bin(images):
    """The file bytes: each channel plane column-major."""
    return np.ascontiguousarray(np.transpose(images, (0, 1, 3, 2))).tobytes()


def fold_line(f):
    """Fold f: three distinct train indices, not in order."""
    return [(f + 5 * j) % N_TRAIN for j in range(3)]


def members():
    train, test, unl = upright("train", N_TRAIN), upright("test", N_TEST), upright("unlabeled", N_UNLABELED)
    # Lines end with a blank before the newline; np.fromstring(sep=" "),
    # which torchvision uses, and the plugin both allow it.
    folds = "".join(" ".join(str(i) for i in fold_line(f)) + " \n" for f in range(10))
    return [
        ("test_X.bin", x_bin(test)),
        ("test_y.bin", labels("test", N_TEST).tobytes()),
        ("train_X.bin", x_bin(train)),
        ("train_y.bin", labels("train", N_TRAIN).tobytes()),
        ("unlabeled_X.bin", x_bin(unl)),
        ("class_names.txt", ("\n".join(CLASSES) + "\n").encode()),
        ("fold_indices.txt", folds.encode()),
    ]


def write_archive(path, folder, ms):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        d = tarfile.TarInfo(folder)
        d.type = tarfile.DIRTYPE
        d.mode = 0o755
        d.mtime = MTIME
        d.uname = d.gname = "stl10"
        tar.addfile(d)
        for name, data in ms:
            info = tarfile.TarInfo(folder + "/" + name)
            info.size = len(data)
            info.mtime = MTIME
            info.mode = 0o644
            info.uname = info.gname = "stl10"
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(buf.getvalue())
    with open(path, "wb") as f:
        f.write(out.getvalue())
    print("wrote %s (%d bytes)" % (path, len(out.getvalue())))


def torchvision_arrays(root):
    """What torchvision.datasets.STL10 delivers for the fixture under root."""
    from torchvision.datasets import STL10

    STL10._check_integrity = lambda self: True  # the real files' md5 sums; see the docstring
    cases = {
        "train": ("train", None),
        "test": ("test", None),
        "unlabeled": ("unlabeled", None),
        "train+unlabeled": ("train+unlabeled", None),
        "train_fold0": ("train", 0),
        "train_fold9": ("train", 9),
        "train+unlabeled_fold3": ("train+unlabeled", 3),
    }
    out = {}
    for key, (split, folds) in cases.items():
        ds = STL10(root, split=split, folds=folds, download=False)
        assert ds.classes == CLASSES, ds.classes
        imgs, labs = [], []
        for i in range(len(ds)):
            img, lab = ds[i]
            assert img.mode == "RGB" and img.size == (SIDE, SIDE), (img.mode, img.size)
            imgs.append(np.asarray(img))
            labs.append(lab)
        out[key + "_images"] = np.stack(imgs).astype(np.uint8)
        out[key + "_labels"] = np.array(labs, dtype=np.int64)
    return out


def check(arrays):
    """torchvision's arrays are the upright images and 0-based labels."""
    hwc = {s: np.transpose(upright(s, n), (0, 2, 3, 1)) for s, n in
           (("train", N_TRAIN), ("test", N_TEST), ("unlabeled", N_UNLABELED))}
    lab = {"train": labels("train", N_TRAIN).astype(np.int64) - 1, "test": labels("test", N_TEST).astype(np.int64) - 1,
           "unlabeled": np.full(N_UNLABELED, -1, dtype=np.int64)}
    want = {s: (hwc[s], lab[s]) for s in hwc}
    want["train+unlabeled"] = (np.concatenate([hwc["train"], hwc["unlabeled"]]), np.concatenate([lab["train"], lab["unlabeled"]]))
    for f in (0, 9):
        idx = fold_line(f)
        want["train_fold%d" % f] = (hwc["train"][idx], lab["train"][idx])
    idx = fold_line(3)
    want["train+unlabeled_fold3"] = (np.concatenate([hwc["train"][idx], hwc["unlabeled"]]),
                                     np.concatenate([lab["train"][idx], lab["unlabeled"]]))
    for key, (img, lab_) in want.items():
        assert np.array_equal(arrays[key + "_images"], img), key
        assert np.array_equal(arrays[key + "_labels"], lab_), key
    assert labels("train", N_TRAIN).min() == 1 and labels("test", N_TEST).max() == 10


def write_npz(path, arrays):
    """np.savez_compressed, with fixed timestamps so the file is deterministic."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), version=(1, 0))
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, buf.getvalue(), compresslevel=9)
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


def main():
    os.makedirs(OUT, exist_ok=True)
    ms = members()
    archive = os.path.join(OUT, "stl10_binary.tar.gz")
    write_archive(archive, "stl10_binary", ms)
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp)
        arrays = torchvision_arrays(tmp)
    check(arrays)
    write_npz(os.path.join(OUT, "expected.npz"), arrays)


if __name__ == "__main__":
    main()
