#!/usr/bin/python3
"""CLIP fixture of the dinov2 backbone plugin (its `preset: clip`): a tiny
CLIP image tower with random weights exported to ONNX as Hugging Face's
CLIPVisionModelWithProjection is (input pixel_values [N, 3, 224, 224],
output image_embeds [N, 16], batch dimension dynamic), and the embeddings
PyTorch + torchvision + PIL compute for test images of several sizes with
CLIP's evaluation transform.

Run from the repository root (Debian's python3-torch 1.13, python3-onnx 1.12,
python3-torchvision 0.14, python3-pil 9.4):

    /usr/bin/python3 backbones/dinov2/testdata/make_clip_fixture.py

It writes only clip_tiny.onnx, fixtures_clip.json, ref_clip_*.npy and
images_clip_*.npy in backbones/dinov2/testdata/; the other test images it
uses (images_rgb32.npy, images_gray28.npy, images_wide.npy,
images_mixed_*.npy) are read as make_fixtures.py left them. Deterministic
given those library versions.

The model is the architecture of CLIP's image tower, as OpenAI's clip
(model.py VisionTransformer) and transformers (modeling_clip.py
CLIPVisionTransformer + CLIPVisionModelWithProjection) both write it, with
transformers' names: a patch convolution without bias, a class embedding,
learnt position embeddings for the 224-pixel grid, a LayerNorm before the
blocks (pre_layrnorm, OpenAI's ln_pre), pre-norm blocks of multi-head
attention and an MLP with quick_gelu (x * sigmoid(1.702 x)), a LayerNorm on
the CLS token only (post_layernorm, ln_post) and a linear projection
without bias (visual_projection, proj). transformers is not packaged by
Debian, hence the rewrite; it is small enough to check by eye.

The preprocessing is OpenAI's clip.load transform (also open_clip's
evaluation transform): Resize(224, BICUBIC) on the PIL image, CenterCrop(224),
convert("RGB"), ToTensor, Normalize(CLIP mean, CLIP std). Hugging Face's
CLIPImageProcessor computes the same resized size (int(224 * long / short))
with the same PIL filter, but places the centre crop at floor((size-224)/2)
where torchvision rounds half to even, one pixel apart when size-224 is 3
mod 4; images_clip_32x33 and images_clip_33x32 are such sizes, and the
fixtures report how far the processor's embeddings lie from the plugin's
(sensitivity "hf processor crop offset").

Weights are random, drawn (as make_fixtures.py draws DINOv2's) so that the
embeddings differ clearly between images; the script checks that the test
threshold catches the mistakes in MUST_CATCH before writing anything.
"""

import json
import math
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torchvision.transforms as T
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in testdata
sys.path.insert(0, HERE)
import make_fixtures as mf  # noqa: E402  (to_pil, cosines, IMAGENET_*)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SIZE = 224
THRESHOLD = mf.THRESHOLD
MODEL = "clip_tiny.onnx"
ARCH = dict(width=24, layers=2, heads=2, patch=16, image=SIZE, embed_dim=16)
SEED = 12


# ---------------------------------------------------------------- the model


class Attention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.scale = (width // heads) ** -0.5
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x):
        B, N, C = x.shape

        def split(t):
            return t.reshape(B, N, self.heads, C // self.heads).transpose(1, 2)

        q = split(self.q_proj(x) * self.scale)
        k, v = split(self.k_proj(x)), split(self.v_proj(x))
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.out_proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class EncoderLayer(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(width, eps=1e-5)
        self.self_attn = Attention(width, heads)
        self.layer_norm2 = nn.LayerNorm(width, eps=1e-5)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), QuickGELU(), nn.Linear(4 * width, width))

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class ClipVision(nn.Module):
    """CLIPVisionModelWithProjection: pixel_values -> image_embeds."""

    def __init__(self, width, layers, heads, patch, image, embed_dim):
        super().__init__()
        self.patch_embedding = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.position_embedding = nn.Parameter(torch.zeros((image // patch) ** 2 + 1, width))
        self.pre_layrnorm = nn.LayerNorm(width, eps=1e-5)
        self.layers = nn.ModuleList([EncoderLayer(width, heads) for _ in range(layers)])
        self.post_layernorm = nn.LayerNorm(width, eps=1e-5)
        self.visual_projection = nn.Linear(width, embed_dim, bias=False)

    def forward(self, pixel_values):
        x = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)  # B, P, C
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.position_embedding
        x = self.pre_layrnorm(x)
        for layer in self.layers:
            x = layer(x)
        pooled = self.post_layernorm(x[:, 0])  # pooler_output
        return self.visual_projection(pooled)  # image_embeds


def randomize(model, seed):
    """Draws every parameter so that embeddings depend clearly on the image."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif name == "class_embedding":
                p.copy_(torch.randn(p.shape, generator=g))
            elif name == "position_embedding":
                p.copy_(torch.randn(p.shape, generator=g))
            else:  # conv and linear weights: unit-variance outputs
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
    model.eval()


# ---------------------------------------------------------------- preprocessing


def clip_transform(resize=SIZE, crop=SIZE, mean=CLIP_MEAN, std=CLIP_STD, interpolation=T.InterpolationMode.BICUBIC):
    """OpenAI clip's _transform(n_px) (its convert("RGB") is mf.to_pil's)."""
    steps = [T.Resize(resize, interpolation=interpolation)]
    if crop:
        steps.append(T.CenterCrop(crop))
    return T.Compose(steps + [T.ToTensor(), T.Normalize(mean, std)])


def hf_processor(img):
    """CLIPImageProcessor.preprocess on one image, with the resize of
    image_transforms.resize (PIL bicubic to get_resize_output_image_size's
    size, which equals torchvision's) and the crop of
    image_transforms.center_crop (top = (height - 224) // 2)."""
    pil = mf.to_pil(img)
    w, h = pil.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(SIZE * long / short)
    size = (SIZE, new_long) if w <= h else (new_long, SIZE)  # PIL (width, height)
    a = np.asarray(pil.resize(size, resample=Image.BICUBIC))
    top, left = (a.shape[0] - SIZE) // 2, (a.shape[1] - SIZE) // 2
    a = a[top:top + SIZE, left:left + SIZE].astype(np.float32) * np.float32(1 / 255)
    a = (a - np.array(CLIP_MEAN, np.float32)) / np.array(CLIP_STD, np.float32)
    return torch.from_numpy(a.transpose(2, 0, 1).copy())


# ---------------------------------------------------------------- fixtures


def extra_images():
    """Sizes whose resized long edge is 231 = 224 + 7: the crop offset is
    round(3.5) = 4 in torchvision, 7 // 2 = 3 in CLIPImageProcessor."""
    rs = np.random.RandomState(4321)

    def scene(h, w):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        img = np.zeros((h, w, 3))
        for ch in range(3):
            a, b, ph = rs.uniform(-1, 1), rs.uniform(-1, 1), rs.uniform(0, 6.3)
            img[..., ch] = 128 + 90 * np.sin(a * xx / 3 + b * yy / 4 + ph)
        for _ in range(3):
            y0, x0 = rs.randint(0, h - 4), rs.randint(0, w - 4)
            y1, x1 = y0 + rs.randint(3, h // 2), x0 + rs.randint(3, w // 2)
            img[y0:y1, x0:x1] = rs.choice([0, 255, rs.uniform(0, 255)], size=3)
        img += rs.normal(0, 12, img.shape)
        return np.clip(np.round(img), 0, 255).astype(np.uint8)

    return {"clip_32x33": np.stack([scene(32, 33) for _ in range(2)]),
            "clip_33x32": np.stack([scene(33, 32) for _ in range(2)])}


# Each case is a stream of input batches (images file, first, count), as
# fixtures_mixed.json writes them; images of any size go through the crop.
CASES = {
    "squares": [("rgb32", 0, 3), ("rgb32", 3, 5)],
    "grey": [("gray28", 0, 3)],
    "mixed": [("mixed_40x56", 0, 2), ("mixed_64x48", 0, 1), ("wide", 0, 2), ("clip_32x33", 0, 2),
              ("mixed_300x260", 0, 1), ("mixed_33x33", 0, 2), ("clip_33x32", 0, 2), ("mixed_48x48", 0, 1)],
}

# The plugin options the test runs each case with: the preset, and the
# same preprocessing and output spelt out.
PRESET = {"preset": "clip"}
EXPLICIT = {"resize": SIZE, "center_crop": SIZE, "mean": ",".join(map(str, CLIP_MEAN)),
            "std": ",".join(map(str, CLIP_STD)), "output": "image_embeds"}

# Mistakes the threshold must catch (on at least one image of one case);
# the others are only reported.
MUST_CATCH = {
    "neighbour image", "BGR channel order", "transposed image",
    "ImageNet mean and std (no preset)", "DINOv2 geometry: resize 256, crop 224",
    "squashed instead of cropped",
}


def sensitivity(m, stream, ref):
    def run(x):
        with torch.no_grad():
            return m(x)

    def each(tf, flip=None):
        x = torch.stack([tf(mf.to_pil(im)) for im in stream])
        if flip == "bgr":
            x = x.flip(1)
        elif flip == "transpose":
            x = x.transpose(2, 3)
        return run(x)

    out = {}

    def worst(name, got):
        out[name] = float(mf.cosines(got, ref).min())

    worst("neighbour image", ref.roll(1, 0))
    worst("BGR channel order", each(clip_transform(), "bgr"))
    worst("transposed image", each(clip_transform(), "transpose"))
    worst("ImageNet mean and std (no preset)", each(clip_transform(mean=mf.IMAGENET_MEAN, std=mf.IMAGENET_STD)))
    worst("DINOv2 geometry: resize 256, crop 224", each(clip_transform(resize=256)))
    worst("squashed instead of cropped", each(clip_transform(resize=(SIZE, SIZE), crop=0)))
    worst("bilinear resize", each(clip_transform(interpolation=T.InterpolationMode.BILINEAR)))
    worst("hf processor crop offset", run(torch.stack([hf_processor(im) for im in stream])))
    return out


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    images = {name: np.load(os.path.join(HERE, f"images_{name}.npy"))
              for name in ("rgb32", "gray28", "wide", "mixed_40x56", "mixed_64x48",
                           "mixed_33x33", "mixed_300x260", "mixed_48x48")}
    extra = extra_images()
    images.update(extra)
    m = ClipVision(**ARCH)
    randomize(m, SEED)

    cases, sens, refs = [], {}, {}
    for name, batches in CASES.items():
        stream = [images[f][i] for f, lo, n in batches for i in range(lo, lo + n)]
        x = torch.stack([clip_transform()(mf.to_pil(im)) for im in stream])
        with torch.no_grad():
            ref = m(x)
        sens[name] = sensitivity(m, stream, ref)
        file = f"ref_clip_{name}.npy"
        refs[file] = ref.numpy().astype(np.float32)
        cases.append(dict(name=f"clip/{name}", model=MODEL,
                          batches=[dict(images=f"images_{f}.npy", first=lo, count=n) for f, lo, n in batches],
                          reference=file))
    worst = {}
    for s in sens.values():
        for k, v in s.items():
            worst[k] = min(v, worst.get(k, 1.0))
    missed = {k: v for k, v in worst.items() if k in MUST_CATCH and v >= THRESHOLD}
    if missed:
        sys.exit(f"at cosine {THRESHOLD} the fixtures would not catch {missed}")

    for file, ref in refs.items():
        np.save(os.path.join(HERE, file), ref)
    for name, imgs in extra.items():
        np.save(os.path.join(HERE, f"images_{name}.npy"), imgs)

    path = os.path.join(HERE, MODEL)
    dummy = torch.zeros(2, 3, SIZE, SIZE)
    torch.onnx.export(
        m, (dummy,), path, input_names=["pixel_values"], output_names=["image_embeds"],
        dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
        opset_version=17, do_constant_folding=True,
    )
    onnx.checker.check_model(onnx.load(path))

    meta = {
        "generator": "backbones/dinov2/testdata/make_clip_fixture.py",
        "versions": {"torch": torch.__version__, "torchvision": __import__("torchvision").__version__,
                     "onnx": onnx.__version__, "PIL": Image.__version__, "numpy": np.__version__},
        "threshold": THRESHOLD,
        "model": {MODEL: {**ARCH, "seed": SEED, "input": "pixel_values", "output": "image_embeds"}},
        "preprocessing": "Resize(224, BICUBIC) on PIL, CenterCrop(224), ToTensor, Normalize(CLIP mean, CLIP std)",
        "options": {"preset": PRESET, "explicit": EXPLICIT},
        "cases": cases,
        "sensitivity": sens,
    }
    with open(os.path.join(HERE, "fixtures_clip.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
        fh.write("\n")
    print(json.dumps(worst, indent=1))


if __name__ == "__main__":
    if sys.argv[1:]:
        sys.exit("usage: make_clip_fixture.py")
    main()
