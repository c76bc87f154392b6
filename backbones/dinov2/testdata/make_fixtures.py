#!/usr/bin/python3
"""Test fixtures of the dinov2 backbone plugin: tiny DINOv2 models with random
weights exported to ONNX, test images, and reference embeddings computed with
PyTorch + torchvision + PIL.

Run from the repository root (Debian's python3-torch 1.13, python3-onnx 1.12,
python3-torchvision 0.14, python3-pil):

    /usr/bin/python3 backbones/dinov2/testdata/make_fixtures.py

It rewrites everything in backbones/dinov2/testdata/ except itself and
the mixed-size fixtures below, and is deterministic given those library
versions.

    /usr/bin/python3 backbones/dinov2/testdata/make_fixtures.py --mixed

writes only the mixed-size fixtures (fixtures_mixed.json, images_mixed_*.npy,
ref_mixed_*.npy): streams whose input batches change size from one to the
next, as a folder of photos gives them, with the references of the
PyTorch + torchvision + PIL pipeline applied image by image. It rebuilds
dinov2_tiny from its seed and first checks that it reproduces the stored
references, so the existing files stay as they are.

The model is the architecture of facebookresearch/dinov2
(dinov2/models/vision_transformer.py DinoVisionTransformer, dinov2/layers
Block, Attention, Mlp, LayerScale, PatchEmbed), written out here without the
xFormers and training-only paths: patch 14, a CLS token, position embeddings
for the 37x37 grid of the 518-pixel pretraining resolution interpolated
bicubically to the input grid by interpolate_pos_encoding as the current
official code does it (interpolate_offset=0.1 uses scale_factor=(w0+0.1)/37
without antialiasing, the default of the dinov2_vit*14 hub models;
interpolate_offset=0 uses size=(w0, h0), with antialias=True as the
dinov2_vit*14_reg hub models do), register tokens inserted after the CLS token
(after the position embeddings are added; registers have none), pre-norm
blocks with LayerScale, and a final LayerNorm (eps 1e-6).

Weights are random but not the official initialisation: DINOv2 initialises
the CLS and register tokens to ~1e-6, which would make every register equal
and the CLS token nearly image-independent, so the fixtures could not tell a
correct plugin from a wrong one. Here every parameter is drawn so that the
embeddings differ clearly between images and pooling choices; the script
checks that (see SENSITIVITY) before writing anything.

The ONNX graphs hold the position embeddings already interpolated to the
export resolution, computed by interpolate_pos_encoding in torch: ONNX's
Resize cannot express the scale_factor kludge nor PyTorch's antialiased
bicubic, and the export resolution is fixed anyway. The script checks that the
baked model gives the same outputs as the live one.
"""

import json
import math
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The plugin must reach this cosine similarity to the references.
THRESHOLD = 0.9999


# ---------------------------------------------------------------- the model


class PatchEmbed(nn.Module):
    def __init__(self, img_size, patch_size, in_chans, embed_dim):
        super().__init__()
        self.patch_size = (patch_size, patch_size)
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        _, _, H, W = x.shape
        assert H % self.patch_size[0] == 0 and W % self.patch_size[1] == 0
        x = self.proj(x)  # B C H W
        return x.flatten(2).transpose(1, 2)  # B HW C


class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class LayerScale(nn.Module):
    def __init__(self, dim, init_values):
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio, init_values):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim, init_values)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim, init_values)

    def forward(self, x):
        x = x + self.ls1(self.attn(self.norm1(x)))
        x = x + self.ls2(self.mlp(self.norm2(x)))
        return x


class DinoVisionTransformer(nn.Module):
    def __init__(self, embed_dim, depth, num_heads, num_register_tokens,
                 interpolate_antialias, interpolate_offset,
                 img_size=518, patch_size=14, mlp_ratio=4.0, init_values=1.0):
        super().__init__()
        self.embed_dim = embed_dim
        self.patch_size = patch_size
        self.num_register_tokens = num_register_tokens
        self.interpolate_antialias = interpolate_antialias
        self.interpolate_offset = interpolate_offset
        self.patch_embed = PatchEmbed(img_size, patch_size, 3, embed_dim)
        num_patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, embed_dim))
        self.register_tokens = (
            nn.Parameter(torch.zeros(1, num_register_tokens, embed_dim)) if num_register_tokens else None
        )
        self.blocks = nn.ModuleList([Block(embed_dim, num_heads, mlp_ratio, init_values) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        # Set by bake_pos_embed for the ONNX export (see the module comment).
        self.baked_pos_embed = None

    # Verbatim logic of the official interpolate_pos_encoding.
    def interpolate_pos_encoding(self, x, w, h):
        previous_dtype = x.dtype
        npatch = x.shape[1] - 1
        N = self.pos_embed.shape[1] - 1
        if npatch == N and w == h:
            return self.pos_embed
        pos_embed = self.pos_embed.float()
        class_pos_embed = pos_embed[:, 0]
        patch_pos_embed = pos_embed[:, 1:]
        dim = x.shape[-1]
        w0 = w // self.patch_size
        h0 = h // self.patch_size
        M = int(math.sqrt(N))
        assert N == M * M
        kwargs = {}
        if self.interpolate_offset:
            sx = float(w0 + self.interpolate_offset) / M
            sy = float(h0 + self.interpolate_offset) / M
            kwargs["scale_factor"] = (sx, sy)
        else:
            kwargs["size"] = (w0, h0)
        patch_pos_embed = F.interpolate(
            patch_pos_embed.reshape(1, M, M, dim).permute(0, 3, 1, 2),
            mode="bicubic",
            antialias=self.interpolate_antialias,
            **kwargs,
        )
        assert (w0, h0) == patch_pos_embed.shape[-2:]
        patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
        return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1).to(previous_dtype)

    def bake_pos_embed(self, size):
        x = torch.zeros(1, 1 + (size // self.patch_size) ** 2, self.embed_dim)
        with torch.no_grad():
            self.baked_pos_embed = self.interpolate_pos_encoding(x, size, size).detach().clone()

    def prepare_tokens(self, x):
        _, _, w, h = x.shape
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        if self.baked_pos_embed is not None:
            x = x + self.baked_pos_embed
        else:
            x = x + self.interpolate_pos_encoding(x, w, h)
        if self.register_tokens is not None:
            x = torch.cat((x[:, :1], self.register_tokens.expand(x.shape[0], -1, -1), x[:, 1:]), dim=1)
        return x

    def forward_features(self, x):
        x = self.prepare_tokens(x)
        for blk in self.blocks:
            x = blk(x)
        x_norm = self.norm(x)
        r = self.num_register_tokens
        return {
            "x_norm": x_norm,
            "x_norm_clstoken": x_norm[:, 0],
            "x_norm_regtokens": x_norm[:, 1 : r + 1],
            "x_norm_patchtokens": x_norm[:, r + 1 :],
        }


def randomize(model, seed):
    """Draws every parameter so that embeddings depend clearly on the image."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):  # LayerScale
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif name in ("cls_token", "register_tokens"):
                p.copy_(torch.randn(p.shape, generator=g))
            elif name == "pos_embed":
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:  # conv and linear weights: unit-variance outputs
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
    model.eval()


# ---------------------------------------------------------------- ONNX export


class HFStyle(nn.Module):
    """Hugging Face Dinov2Model outputs: last_hidden_state, pooler_output."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, pixel_values):
        x_norm = self.m.forward_features(pixel_values)["x_norm"]
        return x_norm, x_norm[:, 0]


class ForwardFeatures(nn.Module):
    """The official forward_features split: CLS and patch tokens apart."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        f = self.m.forward_features(x)
        return f["x_norm_clstoken"], f["x_norm_patchtokens"]


def export(wrapper, size, input_name, output_names, path):
    wrapper.m.bake_pos_embed(size)
    dummy = torch.zeros(2, 3, size, size)
    dyn = {input_name: {0: "batch"}}
    for n in output_names:
        dyn[n] = {0: "batch"}
    torch.onnx.export(
        wrapper, (dummy,), path, input_names=[input_name], output_names=output_names,
        dynamic_axes=dyn, opset_version=17, do_constant_folding=True,
    )
    onnx.checker.check_model(onnx.load(path))


def bad_model(path):
    """A valid ONNX model that is not a ViT: pixel_values [N, 784] -> logits."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((784, 10), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["pixel_values", "w"], ["logits"])],
        "not_a_vit",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["N", 784])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [w],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


# ---------------------------------------------------------------- images


def make_images():
    """Deterministic test images (N, H, W, C uint8): smooth shapes, hard
    edges, noise and saturated areas, so that bicubic overshoot is clipped."""
    rs = np.random.RandomState(1234)

    def scene(h, w, c):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        img = np.zeros((h, w, c))
        for ch in range(c):
            a, b, ph = rs.uniform(-1, 1), rs.uniform(-1, 1), rs.uniform(0, 6.3)
            img[..., ch] = 128 + 90 * np.sin(a * xx / 3 + b * yy / 4 + ph)
        for _ in range(3):  # hard-edged rectangles, sometimes saturated
            y0, x0 = rs.randint(0, h - 4), rs.randint(0, w - 4)
            y1, x1 = y0 + rs.randint(3, h // 2), x0 + rs.randint(3, w // 2)
            img[y0:y1, x0:x1] = rs.choice([0, 255, rs.uniform(0, 255)], size=c)
        img += rs.normal(0, 12, img.shape)
        return np.clip(np.round(img), 0, 255).astype(np.uint8)

    return {
        "rgb32": np.stack([scene(32, 32, 3) for _ in range(8)]),
        "gray28": np.stack([scene(28, 28, 1) for _ in range(3)]),
        "wide": np.stack([scene(30, 40, 3) for _ in range(3)]),
    }


def to_pil(img):
    # Grayscale datasets go through PIL's convert("RGB"), as an
    # ImageFolder-style loader does.
    if img.shape[2] == 1:
        return Image.fromarray(img[:, :, 0], mode="L").convert("RGB")
    return Image.fromarray(img, mode="RGB")


def transform(resize, crop, mean, std):
    steps = [T.Resize(resize, interpolation=T.InterpolationMode.BICUBIC)]
    if crop:
        steps.append(T.CenterCrop(crop))
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)


def pool(f, pooling):
    cls = f["x_norm_clstoken"]
    mean = f["x_norm_patchtokens"].mean(dim=1)
    return {"cls": cls, "patch-mean": mean, "cls+patch-mean": torch.cat([cls, mean], dim=1)}[pooling]


def cosines(a, b):
    a = a / a.norm(dim=1, keepdim=True)
    b = b / b.norm(dim=1, keepdim=True)
    return (a * b).sum(dim=1)


# ---------------------------------------------------------------- sensitivity

# Mistakes a plugin could make; for each, the smallest cosine similarity over
# the images between the mistaken embedding and the reference (with the
# pooling that the mistake concerns). The test threshold must catch those in
# MUST_CATCH on at least one image of one case of each model. The others
# are only reported. A bilinear instead of a bicubic resize: upscaling a
# 32-pixel image, the two differ by a cosine of ~1e-3 at the input and far
# less after pooling, so exact resampling is tested on the preprocessed
# tensors by the preprocess package instead. One CLS token among 256 patch
# tokens moves their mean too little to be seen at this threshold (the
# plugin's pooling has its own exact unit test); four registers are seen.
MUST_CATCH = {
    "neighbour image (cls)", "BGR channel order (cls)", "no Normalize (cls)",
    "transposed image (cls)",
    "first patch token as cls", "squashed instead of cropped (cls)",
    "patch-mean including registers", "first register as cls",
}


def sensitivity_checks(m, imgs, pre, f, registers):
    def embed(tf, flip=None):
        x = torch.stack([tf(to_pil(im)) for im in imgs])
        if flip == "bgr":
            x = x.flip(1)
        elif flip == "transpose":
            x = x.transpose(2, 3)
        with torch.no_grad():
            return m.forward_features(x)

    def steps(resize_steps, normalize=True):
        return T.Compose(resize_steps + [T.ToTensor()] + ([T.Normalize(pre["mean"], pre["std"])] if normalize else []))

    bicubic = [T.Resize(pre["resize"], interpolation=T.InterpolationMode.BICUBIC)]
    bilinear = [T.Resize(pre["resize"], interpolation=T.InterpolationMode.BILINEAR)]
    if pre["crop"]:
        bicubic.append(T.CenterCrop(pre["crop"]))
        bilinear.append(T.CenterCrop(pre["crop"]))
    cls = pool(f, "cls")
    out = {}

    def worst(name, a, b):
        out[name] = float(cosines(a, b).min())

    for pooling in POOLINGS:
        worst(f"bilinear resize ({pooling})", pool(embed(steps(bilinear)), pooling), pool(f, pooling))
    worst("neighbour image (cls)", cls.roll(1, 0), cls)
    worst("BGR channel order (cls)", pool(embed(steps(bicubic), "bgr"), "cls"), cls)
    worst("no Normalize (cls)", pool(embed(steps(bicubic, normalize=False)), "cls"), cls)
    worst("transposed image (cls)", pool(embed(steps(bicubic), "transpose"), "cls"), cls)
    worst("patch-mean including CLS and registers", f["x_norm"].mean(dim=1), pool(f, "patch-mean"))
    worst("first patch token as cls", f["x_norm"][:, 1 + registers], cls)
    if registers:
        worst("patch-mean including registers", f["x_norm"][:, 1:].mean(dim=1), pool(f, "patch-mean"))
        worst("first register as cls", f["x_norm"][:, 1], cls)
    if pre["crop"]:
        size = (pre["crop"], pre["crop"])
        squash = [T.Resize(size, interpolation=T.InterpolationMode.BICUBIC)]
        worst("squashed instead of cropped (cls)", pool(embed(steps(squash)), "cls"), cls)
    return out


# ---------------------------------------------------------------- main

MODELS = {
    # name: architecture, export, and the plugin options that read it
    "dinov2_tiny": dict(
        arch=dict(embed_dim=64, depth=3, num_heads=4, num_register_tokens=0,
                  interpolate_antialias=False, interpolate_offset=0.1),
        seed=1, size=224, style="hf",
    ),
    "dinov2_tiny_reg4": dict(
        arch=dict(embed_dim=64, depth=3, num_heads=4, num_register_tokens=4,
                  interpolate_antialias=True, interpolate_offset=0.0),
        seed=2, size=224, style="hf",
    ),
    # An official-code export (forward_features split into two outputs) at
    # another resolution and normalisation.
    "dinov2_tiny_custom": dict(
        arch=dict(embed_dim=48, depth=2, num_heads=3, num_register_tokens=2,
                  interpolate_antialias=False, interpolate_offset=0.1),
        seed=3, size=112, style="features",
    ),
}

# Each case: model, images, plugin options (besides model and pooling),
# the preprocessing that the options mean.
CASES = [
    ("dinov2_tiny", "rgb32", {}, dict(resize=224, crop=0, mean=IMAGENET_MEAN, std=IMAGENET_STD)),
    ("dinov2_tiny", "gray28", {}, dict(resize=224, crop=0, mean=IMAGENET_MEAN, std=IMAGENET_STD)),
    ("dinov2_tiny", "wide", {"center_crop": 224}, dict(resize=224, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)),
    ("dinov2_tiny_reg4", "rgb32", {}, dict(resize=224, crop=0, mean=IMAGENET_MEAN, std=IMAGENET_STD)),
    ("dinov2_tiny_reg4", "wide", {"center_crop": 224, "registers": 4},
     dict(resize=224, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)),
    ("dinov2_tiny_custom", "rgb32",
     {"input": "x", "output": "x_norm_patchtokens", "output_has_cls": False, "registers": 0,
      "cls_output": "x_norm_clstoken", "resize": 112, "mean": "0.5,0.5,0.5", "std": "0.25,0.25,0.25"},
     dict(resize=112, crop=0, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))),
]
POOLINGS = ["cls", "patch-mean", "cls+patch-mean"]


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    images = make_images()
    models = {}
    for name, spec in MODELS.items():
        m = DinoVisionTransformer(**spec["arch"])
        randomize(m, spec["seed"])
        models[name] = m

    cases, sensitivity, refs = [], {}, {}
    for model_name, images_name, opts, pre in CASES:
        m = models[model_name]
        imgs = images[images_name]
        tf = transform(pre["resize"], pre["crop"], pre["mean"], pre["std"])
        x = torch.stack([tf(to_pil(im)) for im in imgs])
        with torch.no_grad():
            f = m.forward_features(x)
        key = f"{model_name}/{images_name}"
        sens = sensitivity_checks(m, imgs, pre, f, m.num_register_tokens)
        for pooling in POOLINGS:
            ref = pool(f, pooling)
            file = f"ref_{model_name}_{images_name}_{pooling.replace('+', '_')}.npy"
            refs[file] = ref.numpy().astype(np.float32)
            o = dict(opts)
            o["pooling"] = pooling
            cases.append(dict(name=f"{model_name}/{images_name}/{pooling}", model=model_name + ".onnx",
                              images=f"images_{images_name}.npy", options=o, reference=file))
        sensitivity[key] = sens
    # A mistake is caught when one image of one case of the model falls
    # below the threshold: the test runs every case.
    for model_name in MODELS:
        worst = {}
        for key, sens in sensitivity.items():
            if key.split("/")[0] == model_name:
                for k, v in sens.items():
                    worst[k] = min(v, worst.get(k, 1.0))
        missed = {k: v for k, v in worst.items() if k in MUST_CATCH and v >= THRESHOLD}
        if missed:
            sys.exit(f"{model_name}: at cosine {THRESHOLD} the fixtures would not catch {missed}")

    # The HF outputs' pooler_output is the CLS token: the plugin reads it
    # with output=pooler_output and must give the cls references.
    for images_name in ("rgb32",):
        cases.append(dict(name=f"dinov2_tiny/{images_name}/pooler_output", model="dinov2_tiny.onnx",
                          images=f"images_{images_name}.npy",
                          options={"output": "pooler_output", "pooling": "cls"},
                          reference=f"ref_dinov2_tiny_{images_name}_cls.npy"))

    for file, ref in refs.items():
        np.save(os.path.join(HERE, file), ref)
    for name, imgs in images.items():
        np.save(os.path.join(HERE, f"images_{name}.npy"), imgs)

    for name, spec in MODELS.items():
        m = models[name]
        size = spec["size"]
        x = torch.randn(3, 3, size, size)
        with torch.no_grad():
            live = m.forward_features(x)["x_norm"]
            m.bake_pos_embed(size)
            baked = m.forward_features(x)["x_norm"]
        if not torch.allclose(live, baked, atol=1e-5, rtol=0):
            sys.exit(f"{name}: baked position embeddings differ from live interpolation")
        path = os.path.join(HERE, name + ".onnx")
        if spec["style"] == "hf":
            export(HFStyle(m), size, "pixel_values", ["last_hidden_state", "pooler_output"], path)
        else:
            export(ForwardFeatures(m), size, "x", ["x_norm_clstoken", "x_norm_patchtokens"], path)
        m.baked_pos_embed = None
    bad_model(os.path.join(HERE, "not_a_vit.onnx"))

    meta = {
        "generator": "backbones/dinov2/testdata/make_fixtures.py",
        "versions": {"torch": torch.__version__, "torchvision": __import__("torchvision").__version__,
                     "onnx": onnx.__version__, "PIL": Image.__version__, "numpy": np.__version__},
        "threshold": THRESHOLD,
        "models": {n + ".onnx": {**s["arch"], "patch_size": 14, "pos_embed_grid": 37, "image_size": s["size"],
                                 "outputs": ("last_hidden_state, pooler_output" if s["style"] == "hf"
                                             else "x_norm_clstoken, x_norm_patchtokens")}
                   for n, s in MODELS.items()},
        "cases": cases,
        "sensitivity": sensitivity,
    }
    with open(os.path.join(HERE, "fixtures.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
        fh.write("\n")
    for k, s in sensitivity.items():
        print(k, json.dumps(s, indent=None))


# ---------------------------------------------------------------- mixed sizes

# Streams of images of several sizes, cut into input batches that change
# size: (name, model, plugin options, preprocessing, batches). A batch is
# (images file, first index, count).
MIXED_SIZES = {"40x56": 3, "64x48": 3, "33x33": 2, "300x260": 1, "48x48": 2}
MIXED_CASES = [
    # DINOv2's evaluation transform: any shape gives 224x224.
    ("crop", "dinov2_tiny", {"resize": 256, "center_crop": 224},
     dict(resize=256, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD),
     [("40x56", 0, 2), ("64x48", 0, 1), ("33x33", 0, 2), ("64x48", 1, 2), ("300x260", 0, 1),
      ("40x56", 2, 1), ("33x33", 0, 1)]),
    # Squares of two sizes need no crop: both resize to 224x224.
    ("square", "dinov2_tiny", {},
     dict(resize=224, crop=0, mean=IMAGENET_MEAN, std=IMAGENET_STD),
     [("rgb32", 0, 2), ("48x48", 0, 2), ("rgb32", 2, 1)]),
]


def make_mixed_images():
    """Scenes as make_images draws them, from their own random state, one
    array per size."""
    rs = np.random.RandomState(5678)

    def scene(h, w, c):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        img = np.zeros((h, w, c))
        for ch in range(c):
            a, b, ph = rs.uniform(-1, 1), rs.uniform(-1, 1), rs.uniform(0, 6.3)
            img[..., ch] = 128 + 90 * np.sin(a * xx / 3 + b * yy / 4 + ph)
        for _ in range(3):
            y0, x0 = rs.randint(0, h - 4), rs.randint(0, w - 4)
            y1, x1 = y0 + rs.randint(3, h // 2), x0 + rs.randint(3, w // 2)
            img[y0:y1, x0:x1] = rs.choice([0, 255, rs.uniform(0, 255)], size=c)
        img += rs.normal(0, 12, img.shape)
        return np.clip(np.round(img), 0, 255).astype(np.uint8)

    out = {}
    for size, n in MIXED_SIZES.items():
        h, w = map(int, size.split("x"))
        out[size] = np.stack([scene(h, w, 3) for _ in range(n)])
    return out


def mixed_main():
    torch.set_num_threads(2)
    spec = MODELS["dinov2_tiny"]
    m = DinoVisionTransformer(**spec["arch"])
    randomize(m, spec["seed"])
    # The rebuilt model must be the one the stored references and ONNX
    # file come from.
    rgb32 = np.load(os.path.join(HERE, "images_rgb32.npy"))
    if not np.array_equal(rgb32, make_images()["rgb32"]):
        sys.exit("make_images no longer gives images_rgb32.npy")
    tf = transform(224, 0, IMAGENET_MEAN, IMAGENET_STD)
    with torch.no_grad():
        f = m.forward_features(torch.stack([tf(to_pil(im)) for im in rgb32]))
    stored = np.load(os.path.join(HERE, "ref_dinov2_tiny_rgb32_cls.npy"))
    if not np.allclose(pool(f, "cls").numpy(), stored, atol=1e-6, rtol=0):
        sys.exit("the rebuilt dinov2_tiny does not reproduce ref_dinov2_tiny_rgb32_cls.npy")

    images = make_mixed_images()
    files = {size: f"images_mixed_{size}.npy" for size in images}
    files["rgb32"] = "images_rgb32.npy"
    pool_of = {**images, "rgb32": rgb32}
    cases, checks, refs = [], {}, {}
    for name, model_name, opts, pre, batches in MIXED_CASES:
        tf = transform(pre["resize"], pre["crop"], pre["mean"], pre["std"])
        # Image by image, as a DataLoader over an ImageFolder does.
        stream = [pool_of[size][i] for size, lo, n in batches for i in range(lo, lo + n)]
        x = torch.stack([tf(to_pil(im)) for im in stream])
        with torch.no_grad():
            f = m.forward_features(x)
        # What a plugin that ignored resize (224 instead of 256) would give:
        # the fixture must tell them apart.
        if pre["crop"]:
            wrong = transform(224, pre["crop"], pre["mean"], pre["std"])
            with torch.no_grad():
                fw = m.forward_features(torch.stack([wrong(to_pil(im)) for im in stream]))
            checks[name] = {"resize 224 instead of 256 (cls)": float(cosines(pool(fw, "cls"), pool(f, "cls")).min())}
            if checks[name]["resize 224 instead of 256 (cls)"] >= THRESHOLD:
                sys.exit(f"{name}: at cosine {THRESHOLD} the fixture would not catch a wrong resize")
        for pooling in POOLINGS:
            file = f"ref_mixed_{name}_{model_name}_{pooling.replace('+', '_')}.npy"
            refs[file] = pool(f, pooling).numpy().astype(np.float32)
            o = dict(opts)
            o["pooling"] = pooling
            cases.append(dict(name=f"mixed/{name}/{pooling}", model=model_name + ".onnx", options=o,
                              batches=[dict(images=files[size], first=lo, count=n) for size, lo, n in batches],
                              reference=file))
    for file, ref in refs.items():
        np.save(os.path.join(HERE, file), ref)
    for size, imgs in images.items():
        np.save(os.path.join(HERE, files[size]), imgs)
    meta = {
        "generator": "backbones/dinov2/testdata/make_fixtures.py --mixed",
        "versions": {"torch": torch.__version__, "torchvision": __import__("torchvision").__version__,
                     "PIL": Image.__version__, "numpy": np.__version__},
        "threshold": THRESHOLD,
        "cases": cases,
        "sensitivity": checks,
    }
    with open(os.path.join(HERE, "fixtures_mixed.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
        fh.write("\n")
    print(json.dumps(checks))


if __name__ == "__main__":
    if sys.argv[1:] == ["--mixed"]:
        mixed_main()
    elif sys.argv[1:]:
        sys.exit("usage: make_fixtures.py [--mixed]")
    else:
        main()
