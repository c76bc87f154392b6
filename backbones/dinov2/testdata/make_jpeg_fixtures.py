#!/usr/bin/python3
"""JPEG fixtures of the dinov2 backbone plugin: JPEG files, the pixels
Pillow decodes from them, and the embeddings of the PyTorch + Pillow
pipeline, for jpeg_test.go, which decodes the same files with
clusterlab's datasets/images/decode and embeds them with the plugin.

Run from the repository root (Debian's python3-torch 1.13,
python3-torchvision 0.14, python3-pil 9.4):

    /usr/bin/python3 backbones/dinov2/testdata/make_jpeg_fixtures.py

It writes only backbones/dinov2/testdata/jpeg/: the JPEGs (*.jpg), Pillow's
Image.open(f).convert("RGB") pixels of each (pillow_<name>.npy, uint8
[H, W, 3]), the reference embeddings of all images in index order
(ref_<pooling>.npy, float32 [N, D]) and index.json. It rebuilds
dinov2_tiny from make_fixtures.py (its seed and architecture) and first
checks that the rebuilt model reproduces the stored references, so the
model the test runs (dinov2_tiny.onnx) is the one the references come from.
Deterministic given those library versions.

The images are seeded synthetic scenes (smooth fields, hard-edged shapes,
fine noise) saved by Pillow at quality 90 in the layouts a folder of photos
holds: 4:2:0 (Pillow's default), 4:4:4, 4:2:2, sizes that are not
multiples of the MCU, greyscale, progressive, CMYK (Adobe), and one image
larger than the resize so that it is downscaled. The reference pipeline is
torchvision's ImageFolder loader (Image.open(f).convert("RGB")), then
DINOv2's evaluation transform: Resize(256, bicubic), CenterCrop(224),
ToTensor, Normalize(ImageNet), which the plugin options resize: 256,
center_crop: 224 mean.
"""

import io
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in testdata
sys.path.insert(0, HERE)
import make_fixtures as mf  # noqa: E402  (the model, transforms and pooling)

OUT = os.path.join(HERE, "jpeg")
RESIZE, CROP = 256, 224
POOLINGS = ["cls", "patch-mean"]

# name: (width, height, Pillow save options, mode the image is saved in)
JPEGS = {
    "rgb420_56x40": (56, 40, dict(quality=90), "RGB"),
    "rgb444_48x64": (48, 64, dict(quality=90, subsampling=0), "RGB"),
    "rgb422_71x57": (71, 57, dict(quality=90, subsampling=1), "RGB"),
    "rgb420_33x33": (33, 33, dict(quality=90), "RGB"),
    "grey_48x48": (48, 48, dict(quality=90), "L"),
    "progressive_96x72": (96, 72, dict(quality=90, progressive=True), "RGB"),
    "cmyk_50x62": (50, 62, dict(quality=90), "CMYK"),
    "rgb420_262x258": (262, 258, dict(quality=90), "RGB"),
}


def scene(rs, h, w):
    """A smooth random field (bicubic upsampling of coarse noise), three
    hard-edged discs, fine noise: photo-like for the decoder."""
    coarse = rs.uniform(0, 255, (4, 4, 3)).astype(np.uint8)
    field = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), dtype=np.float64)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(3):
        cy, cx, r = rs.uniform(0, h), rs.uniform(0, w), rs.uniform(min(h, w) / 8, min(h, w) / 3)
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        field[mask] = field[mask] * 0.3 + rs.uniform(0, 255, 3) * 0.7
    field += rs.normal(0, 6, field.shape)
    return np.clip(np.round(field), 0, 255).astype(np.uint8)


def load(path):
    # torchvision's pil_loader.
    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")


def main():
    torch.set_num_threads(2)
    spec = mf.MODELS["dinov2_tiny"]
    m = mf.DinoVisionTransformer(**spec["arch"])
    mf.randomize(m, spec["seed"])
    rgb32 = np.load(os.path.join(HERE, "images_rgb32.npy"))
    tf = mf.transform(224, 0, mf.IMAGENET_MEAN, mf.IMAGENET_STD)
    with torch.no_grad():
        f = m.forward_features(torch.stack([tf(mf.to_pil(im)) for im in rgb32]))
    stored = np.load(os.path.join(HERE, "ref_dinov2_tiny_rgb32_cls.npy"))
    if not np.allclose(mf.pool(f, "cls").numpy(), stored, atol=1e-6, rtol=0):
        sys.exit("the rebuilt dinov2_tiny does not reproduce ref_dinov2_tiny_rgb32_cls.npy")

    os.makedirs(OUT, exist_ok=True)
    rs = np.random.RandomState(4321)
    index = []
    for name, (w, h, save, mode) in JPEGS.items():
        im = Image.fromarray(scene(rs, h, w))
        if mode != "RGB":
            im = im.convert(mode)
        buf = io.BytesIO()
        im.save(buf, "JPEG", **save)
        path = os.path.join(OUT, name + ".jpg")
        with open(path, "wb") as fh:
            fh.write(buf.getvalue())
        with Image.open(path) as raw:
            info = dict(mode=raw.mode, progressive=bool(raw.info.get("progressive")),
                        subsampling=_subsampling(raw))
        px = np.asarray(load(path))
        assert px.shape == (h, w, 3), (name, px.shape)
        np.save(os.path.join(OUT, f"pillow_{name}.npy"), px)
        index.append(dict(file=name + ".jpg", pixels=f"pillow_{name}.npy", width=w, height=h,
                          bytes=len(buf.getvalue()), **info))

    # Image by image, as a DataLoader over an ImageFolder does.
    tf = mf.transform(RESIZE, CROP, mf.IMAGENET_MEAN, mf.IMAGENET_STD)
    x = torch.stack([tf(load(os.path.join(OUT, e["file"]))) for e in index])
    with torch.no_grad():
        f = m.forward_features(x)
    refs = {}
    for pooling in POOLINGS:
        refs[pooling] = f"ref_{pooling}.npy"
        np.save(os.path.join(OUT, refs[pooling]), mf.pool(f, pooling).numpy().astype(np.float32))
    # The references must tell the images apart at the threshold, or the
    # test proves nothing.
    cls = mf.pool(f, "cls")
    neighbour = float(mf.cosines(cls.roll(1, 0), cls).max())
    if neighbour >= mf.THRESHOLD:
        sys.exit(f"two images' references reach cosine {neighbour}")
    meta = {
        "generator": "backbones/dinov2/testdata/make_jpeg_fixtures.py",
        "versions": {"torch": torch.__version__, "torchvision": __import__("torchvision").__version__,
                     "PIL": Image.__version__, "numpy": np.__version__},
        "threshold": mf.THRESHOLD,
        "model": "dinov2_tiny.onnx",
        "options": {"resize": RESIZE, "center_crop": CROP},
        "references": refs,
        "images": index,
    }
    with open(os.path.join(OUT, "index.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
        fh.write("\n")
    print(json.dumps({"images": len(index), "max neighbour cosine": neighbour}))


def _subsampling(im):
    if im.mode != "RGB":
        return ""
    from PIL import JpegImagePlugin
    return {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(JpegImagePlugin.get_sampling(im), "other")


if __name__ == "__main__":
    if sys.argv[1:]:
        sys.exit("usage: make_jpeg_fixtures.py")
    main()
