#!/usr/bin/env python3
"""Export the image tower of a CLIP model to ONNX in the layout clusterlab's
dinov2 plugin reads with `preset: clip`.

Run on a machine with PyTorch and transformers, where the checkpoint is in
the Hugging Face cache, in a local folder, or can be downloaded:

    python3 scripts/export_clip.py --model openai/clip-vit-base-patch16 --out models/clip_vit_b16.onnx

--model is a Hub name (taken from the Hugging Face cache, downloaded into
it when missing; set HF_HUB_OFFLINE=1 to forbid that) or a local folder
holding config.json, the weights and preprocessor_config.json (a
save_pretrained copy). Other towers: openai/clip-vit-base-patch32 (D = 512),
openai/clip-vit-large-patch14 (D = 768); openai/clip-vit-large-patch14-336
takes 336-pixel images, for which the plugin needs resize: 336 and
center_crop: 336 beside preset: clip. The script prints the plugin options
the exported model needs.

With --source open_clip the tower comes from open_clip instead: --model is
an open_clip model name (e.g. ViT-B-16) and --pretrained a tag (e.g. openai)
or a checkpoint file:

    python3 scripts/export_clip.py --source open_clip --model ViT-B-16 --pretrained openai --out models/clip_vit_b16.onnx

Input: `pixel_values` float32 [N, 3, S, S], S the tower's image size (224
for the models above), batch dimension dynamic. Output: `image_embeds`
[N, D], the CLS token after the final LayerNorm projected into CLIP's joint
space, not normalised: transformers' CLIPVisionModelWithProjection
image_embeds, which equals OpenAI clip's and open_clip's encode_image.

The plugin's preset clip is CLIP's evaluation transform (OpenAI clip.load's
preprocess, open_clip's eval transform): Resize(S, BICUBIC) of the smaller
edge on the PIL image, CenterCrop(S), ToTensor, Normalize(mean
0.48145466,0.4578275,0.40821073, std 0.26862954,0.26130258,0.27577711).
The script compares it with the checkpoint's own preprocessing and prints
the options that differ. (Hugging Face's CLIPImageProcessor floors the
crop offset where torchvision rounds it; the plugin follows torchvision,
as OpenAI clip and open_clip do.)

When onnxruntime is installed, the script checks the ONNX model against
PyTorch on random inputs. The ONNX file holds the weights (up to ViT-L/14,
about 1.2 GB); the plugin hashes that one file for the cache identity.
"""
import argparse
import sys

import torch

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
BICUBIC = 3  # PIL.Image.BICUBIC, the resample value of preprocessor_config.json


class ImageEmbeds(torch.nn.Module):
    """transformers' CLIPVisionModelWithProjection: pixel_values -> image_embeds."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values).image_embeds


class EncodeImage(torch.nn.Module):
    """open_clip's CLIP: pixel_values -> encode_image (not normalised)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model.encode_image(pixel_values)


def load_transformers(name):
    """The tower, its image size and its preprocessing (None when the
    checkpoint has no preprocessor config)."""
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    try:
        # Eager attention exports to plain ONNX ops on every opset.
        model = CLIPVisionModelWithProjection.from_pretrained(name, attn_implementation="eager")
    except TypeError:  # transformers older than 4.36 has only eager attention
        model = CLIPVisionModelWithProjection.from_pretrained(name)
    model.eval()
    size = model.config.image_size
    try:
        p = CLIPImageProcessor.from_pretrained(name)
    except OSError as e:
        print(f"note: {name} has no preprocessor config ({e}); check its preprocessing against preset clip yourself", file=sys.stderr)
        return ImageEmbeds(model), size, None
    pre = {
        "resize": p.size.get("shortest_edge") if p.do_resize else 0,
        "center_crop": p.crop_size["height"] if p.do_center_crop else 0,
        "mean": tuple(p.image_mean),
        "std": tuple(p.image_std),
        "bicubic": p.resample == BICUBIC,
        "square_crop": not p.do_center_crop or p.crop_size["height"] == p.crop_size["width"],
    }
    if pre["resize"] is None:  # size given as {"height", "width"}: a squashing resize
        print(f"warning: {name} resizes to {p.size} without keeping the aspect ratio; the plugin keeps it (resize is the smaller edge)", file=sys.stderr)
        pre["resize"] = size
    return ImageEmbeds(model), size, pre


def load_open_clip(name, pretrained):
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained)
    model.eval()
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    print(f"open_clip's evaluation transform for {name}: {preprocess}", file=sys.stderr)
    pre = {
        "resize": size, "center_crop": size,
        "mean": tuple(getattr(model.visual, "image_mean", None) or CLIP_MEAN),
        "std": tuple(getattr(model.visual, "image_std", None) or CLIP_STD),
        "bicubic": True, "square_crop": True,
    }
    return EncodeImage(model), size, pre


def plugin_options(out, size, pre):
    """The dinov2 plugin options for the exported model: preset clip and
    whatever the checkpoint's preprocessing does differently."""
    opts = {"plugin": "dinov2", "preset": "clip", "model": out}
    if pre is None:
        pre = {"resize": size, "center_crop": size, "mean": CLIP_MEAN, "std": CLIP_STD, "bicubic": True, "square_crop": True}
    if pre["resize"] != 224:
        opts["resize"] = pre["resize"]
    if pre["center_crop"] != 224:
        opts["center_crop"] = pre["center_crop"]
    if any(abs(a - b) > 1e-7 for a, b in zip(pre["mean"], CLIP_MEAN)):
        opts["mean"] = ",".join(str(v) for v in pre["mean"])
    if any(abs(a - b) > 1e-7 for a, b in zip(pre["std"], CLIP_STD)):
        opts["std"] = ",".join(str(v) for v in pre["std"])
    if not pre["bicubic"]:
        print("warning: the checkpoint resizes with another filter than bicubic, which the plugin does not offer", file=sys.stderr)
    if not pre["square_crop"]:
        print("warning: the checkpoint crops a non-square centre, which the plugin does not offer", file=sys.stderr)
    crop = opts.get("center_crop", 224)
    if crop != size:
        print(f"warning: the preprocessing makes {crop}x{crop} images but the model takes {size}x{size}", file=sys.stderr)
    return opts


def check(path, wrapped, size):
    """The ONNX model against PyTorch on random inputs, when onnxruntime is
    there to run it."""
    try:
        import onnxruntime
    except ImportError:
        print("onnxruntime is not installed: the exported model was not checked against PyTorch", file=sys.stderr)
        return
    x = torch.randn(3, 3, size, size)
    with torch.no_grad():
        want = wrapped(x)
    sess = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = torch.from_numpy(sess.run(["image_embeds"], {"pixel_values": x.numpy()})[0])
    cos = torch.nn.functional.cosine_similarity(got, want, dim=1).min().item()
    if got.shape != want.shape or cos < 0.9999:
        sys.exit(f"the ONNX model gives {tuple(got.shape)} with min cosine {cos:.6f} to PyTorch's {tuple(want.shape)}")
    print(f"checked: ONNX Runtime matches PyTorch (min cosine {cos:.7f}, image_embeds {tuple(got.shape)})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", choices=["transformers", "open_clip"], default="transformers")
    ap.add_argument("--model", default="openai/clip-vit-base-patch16",
                    help="Hub name or local folder (transformers), or open_clip model name (e.g. ViT-B-16)")
    ap.add_argument("--pretrained", default="openai", help="open_clip only: pretrained tag or checkpoint file")
    ap.add_argument("--out", required=True, help="the .onnx file to write")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    if args.source == "transformers":
        wrapped, size, pre = load_transformers(args.model)
    else:
        wrapped, size, pre = load_open_clip(args.model, args.pretrained)
    wrapped.eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.onnx.export(
            wrapped, (x,), args.out,
            input_names=["pixel_values"],
            output_names=["image_embeds"],
            dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
            opset_version=args.opset,
        )
    print(f"wrote {args.out}")
    check(args.out, wrapped, size)
    print("backbone options:")
    for k, v in plugin_options(args.out, size, pre).items():
        print(f"  {k}: {v}")


if __name__ == "__main__":
    main()
