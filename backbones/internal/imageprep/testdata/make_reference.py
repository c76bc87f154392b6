#!/usr/bin/python3
"""Reference outputs of the TEMI/DINOv2 preprocessing, made by the real thing.

Run with the Debian interpreter, which has Pillow 9.4 and torchvision 0.14:

    cd backbones/internal/imageprep/testdata && /usr/bin/python3 make_reference.py
    cd backbones/internal/imageprep/testdata && /usr/bin/python3 make_reference.py --filters

The first writes manifest.json and its cases (bicubic, as DINOv2 and TEMI
resize); --filters writes manifest_filters.json and its filter_*.npy.gz
cases only: the uint8 HWC image of Compose([Resize(size, interpolation),
CenterCrop(crop)]) on a PIL image for each of torchvision's BILINEAR,
BICUBIC and NEAREST, compared bit for bit.

Inputs are not stored: each is a function of (kind, seed, y, x, c) built from
integer arithmetic only, so the Go test regenerates them bit for bit (see
synthImage in reference_test.go). Outputs are gzip-compressed .npy files and
a manifest.json that the Go test walks:

  * resize cases: the uint8 HWC image that torchvision's
    Resize(size, InterpolationMode.BICUBIC) returns for a PIL image
    (PIL.Image.resize underneath), compared bit for bit;
  * tensor cases: the float32 CHW tensor of the full Compose
    (Resize, optional CenterCrop, ToTensor, Normalize), compared to 1e-6.
"""
import gzip
import io
import json
import os

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
M32 = 0xFFFFFFFF


def mix(v):
    """32-bit integer hash (murmur-style finaliser); mirrored in Go."""
    v &= M32
    v ^= v >> 16
    v = (v * 0x7FEB352D) & M32
    v ^= v >> 15
    v = (v * 0x846CA68B) & M32
    v ^= v >> 16
    return v


def synth(kind, seed, h, w, c):
    """Deterministic test image, HWC uint8.

    noise:  independent bytes, the worst case for clipping and ringing.
    smooth: diagonal ramps that wrap around (hard edges) plus 4 bits of noise,
            closer to a photograph.
    ramp:   every value 0..255 once per channel (h*w must be 256), channel c
            permuted by a stride so the channels differ.
    """
    img = np.zeros((h, w, c), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                n = mix(seed * 0x9E3779B1 + (y * w + x) * c + ch)
                if kind == "noise":
                    v = n & 0xFF
                elif kind == "smooth":
                    v = (x * 511 // max(w - 1, 1) + y * 383 // max(h - 1, 1) + ch * 85 + (n & 15)) % 256
                elif kind == "ramp":
                    v = ((y * w + x) * (2 * ch + 1) + 17 * ch) % 256
                else:
                    raise ValueError(kind)
                img[y, x, ch] = v
    return img


def to_pil(arr):
    return Image.fromarray(arr[:, :, 0], "L") if arr.shape[2] == 1 else Image.fromarray(arr, "RGB")


def resize_op(size):
    return T.Resize(size if isinstance(size, int) else tuple(size), interpolation=T.InterpolationMode.BICUBIC)


def save_gz(name, arr):
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr))
    # mtime=0 keeps the files byte-identical from one run to the next.
    with gzip.GzipFile(name, "wb", compresslevel=9, mtime=0) as f:
        f.write(buf.getvalue())


# (name, kind, seed, h, w, channels, size): size is an int (smaller edge) or [h, w].
RESIZE_CASES = [
    ("cifar_noise", "noise", 1, 32, 32, 3, 224),
    ("cifar_smooth", "smooth", 2, 32, 32, 3, 224),
    ("odd_17x23", "noise", 3, 17, 23, 3, 224),
    ("landscape_down_375x500", "smooth", 4, 375, 500, 3, 224),
    ("portrait_down_300x250", "noise", 5, 300, 250, 3, 224),
    ("explicit_mixed_40x50_to_30x70", "noise", 6, 40, 50, 3, [30, 70]),
    ("explicit_strong_down_64x600_to_16x100", "smooth", 7, 64, 600, 3, [16, 100]),
    ("keep_width_20x24_to_37x24", "noise", 8, 20, 24, 3, [37, 24]),
    ("gray_mnist_28x28", "smooth", 9, 28, 28, 1, 224),
    ("identity_16x16", "noise", 10, 16, 16, 3, 16),
]

# (name, kind, seed, h, w, channels, size, center_crop or 0)
TENSOR_CASES = [
    ("ramp_identity", "ramp", 11, 16, 16, 3, 16, 0),
    ("cifar_full", "smooth", 12, 32, 32, 3, 224, 0),
    ("crop_inside_17x23", "noise", 13, 17, 23, 3, 40, 35),
    ("crop_padded_20x31", "noise", 14, 20, 31, 3, [21, 30], 25),
    ("gray_crop_28x28", "smooth", 15, 28, 28, 1, 33, 32),
]


# (name, kind, seed, h, w, channels, size or None, center_crop or 0): run
# with each interpolation; None means no Resize step.
FILTER_CASES = [
    ("up_17x23_short64", "noise", 21, 17, 23, 3, 64, 0),
    ("up_smooth_32x32_short96", "smooth", 22, 32, 32, 3, 96, 0),
    ("down_300x250_short48", "noise", 23, 300, 250, 3, 48, 0),
    ("down_strong_375x500_short20", "noise", 24, 375, 500, 3, 20, 0),
    ("explicit_mixed_40x50_to_30x70", "noise", 25, 40, 50, 3, [30, 70], 0),
    ("keep_width_20x24_to_37x24", "noise", 26, 20, 24, 3, [37, 24], 0),
    ("gray_up_28x28_short56", "smooth", 27, 28, 28, 1, 56, 0),
    ("gray_down_28x28_short14", "noise", 28, 28, 28, 1, 14, 0),
    ("thin_1x50_short4", "noise", 29, 1, 50, 3, 4, 0),
    ("odd_down_101x67_short33", "smooth", 30, 101, 67, 3, 33, 0),
    ("crop_inside_64x48_short40_crop32", "smooth", 31, 64, 48, 3, 40, 32),
    ("crop_odd_45x61_short41_crop28", "noise", 32, 45, 61, 3, 41, 28),
    ("crop_padded_20x31_to_21x30_crop25", "noise", 33, 20, 31, 3, [21, 30], 25),
    ("gray_crop_28x28_short30_crop24", "smooth", 34, 28, 28, 1, 30, 24),
    ("crop_only_13x9_crop11", "noise", 35, 13, 9, 3, None, 11),
]
INTERPOLATIONS = {
    "bilinear": T.InterpolationMode.BILINEAR,
    "bicubic": T.InterpolationMode.BICUBIC,
    "nearest": T.InterpolationMode.NEAREST,
}


def filters_main():
    here = os.path.dirname(os.path.abspath(__file__))
    os.chdir(here)
    manifest = {
        "schema": "out = uint8 HWC of Compose([Resize(size, interpolation) unless size is null, CenterCrop(crop) if crop > 0]) "
        "on a PIL image (mode L for 1 channel, RGB for 3), must match bit for bit; size is an int (smaller edge) or [h, w]; "
        "inputs come from synth(kind, seed, h, w, channels)",
        "versions": {"pillow": PIL.__version__, "torchvision": torchvision.__version__, "torch": torch.__version__},
        "cases": [],
    }
    for interp, mode in INTERPOLATIONS.items():
        for name, kind, seed, h, w, c, size, crop in FILTER_CASES:
            ops = []
            if size is not None:
                ops.append(T.Resize(size if isinstance(size, int) else tuple(size), interpolation=mode))
            if crop:
                ops.append(T.CenterCrop(crop))
            out = np.asarray(T.Compose(ops)(to_pil(synth(kind, seed, h, w, c))))
            if out.ndim == 2:
                out = out[:, :, None]
            assert out.dtype == np.uint8
            fname = f"filter_{interp}_{name}.npy.gz"
            save_gz(fname, out)
            manifest["cases"].append(dict(name=f"{interp}/{name}", interpolation=interp, kind=kind, seed=seed,
                                          h=h, w=w, channels=c, size=size, center_crop=crop,
                                          out=fname, out_shape=list(out.shape)))
    with open("manifest_filters.json", "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    os.chdir(here)
    manifest = {
        "schema": "resize cases: out = uint8 HWC of torchvision Resize(size, BICUBIC) on a PIL image, must match bit for bit; "
        "tensor cases: out = float32 CHW of Compose([Resize(size, BICUBIC), CenterCrop(crop) if crop > 0, ToTensor(), "
        "Normalize(mean, std)]) on a PIL image (gray images are PIL mode L, converted to RGB before ToTensor), "
        "must match to 1e-6; size is an int (smaller edge) or [h, w]; inputs come from synth(kind, seed, h, w, channels)",
        "versions": {"pillow": PIL.__version__, "torchvision": torchvision.__version__, "torch": torch.__version__},
        "mean": MEAN,
        "std": STD,
        "resize": [],
        "tensor": [],
    }
    for name, kind, seed, h, w, c, size in RESIZE_CASES:
        out = np.asarray(resize_op(size)(to_pil(synth(kind, seed, h, w, c))))
        if out.ndim == 2:
            out = out[:, :, None]
        fname = f"resize_{name}.npy.gz"
        save_gz(fname, out)
        manifest["resize"].append(dict(name=name, kind=kind, seed=seed, h=h, w=w, channels=c, size=size,
                                       out=fname, out_shape=list(out.shape)))
    for name, kind, seed, h, w, c, size, crop in TENSOR_CASES:
        ops = [resize_op(size)]
        if crop:
            ops.append(T.CenterCrop(crop))
        ops += [T.Lambda(lambda im: im.convert("RGB")), T.ToTensor(), T.Normalize(mean=MEAN, std=STD)]
        out = T.Compose(ops)(to_pil(synth(kind, seed, h, w, c))).numpy()
        assert out.dtype == np.float32
        fname = f"tensor_{name}.npy.gz"
        save_gz(fname, out)
        manifest["tensor"].append(dict(name=name, kind=kind, seed=seed, h=h, w=w, channels=c, size=size,
                                       center_crop=crop, out=fname, out_shape=list(out.shape)))
    with open("manifest.json", "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--filters"]:
        filters_main()
    elif sys.argv[1:]:
        sys.exit("usage: make_reference.py [--filters]")
    else:
        main()
