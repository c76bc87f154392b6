#!/usr/bin/env python3
"""Export an official DINOv2 backbone to ONNX in the Hugging Face layout
clusterlab's dinov2 plugin reads by default.

Run on a machine with internet and PyTorch (torch.hub downloads the official
weights from facebookresearch/dinov2):

    python3 scripts/export_dinov2.py --model dinov2_vitb14 --out models/dinov2_vitb14.onnx

Outputs: `last_hidden_state` [N, 1 + R + P, D] (CLS, R register tokens for the
*_reg models, P patch tokens; all after the final norm) and `pooler_output`
[N, D] (the CLS token after the final norm). Input: `pixel_values`
[N, 3, size, size], batch dimension dynamic. The position embeddings are
interpolated for --size (224 by default) at export time, exactly as the
model does in PyTorch for that size.
"""
import argparse

import torch


class HFLayout(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        out = self.model.forward_features(pixel_values)
        cls = out["x_norm_clstoken"]
        parts = [cls[:, None]]
        regs = out.get("x_norm_regtokens")
        if regs is not None and regs.shape[1] > 0:
            parts.append(regs)
        parts.append(out["x_norm_patchtokens"])
        return torch.cat(parts, dim=1), cls


def bake_pos_embed(model, size):
    """Replace the model's position-embedding interpolation by its result
    for size x size inputs. The *_reg models interpolate with antialiased
    bicubic, which ONNX cannot express; the exported graph then holds the
    exact tensor PyTorch computes for that size."""
    patch = model.patch_size
    tokens = torch.zeros(1, 1 + (size // patch) ** 2, model.embed_dim)
    with torch.no_grad():
        baked = model.interpolate_pos_encoding(tokens, size, size).detach().clone()
    model.interpolate_pos_encoding = lambda x, w, h: baked.to(x.dtype)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="dinov2_vitb14", help="torch.hub name, e.g. dinov2_vits14, dinov2_vitb14, dinov2_vitl14, dinov2_vitb14_reg")
    ap.add_argument("--out", required=True, help="the .onnx file to write")
    ap.add_argument("--size", type=int, default=224, help="input resolution (a multiple of 14)")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    model = torch.hub.load("facebookresearch/dinov2", args.model).eval()
    bake_pos_embed(model, args.size)
    wrapped = HFLayout(model).eval()
    x = torch.randn(2, 3, args.size, args.size)
    with torch.no_grad():
        torch.onnx.export(
            wrapped, (x,), args.out,
            input_names=["pixel_values"],
            output_names=["last_hidden_state", "pooler_output"],
            dynamic_axes={"pixel_values": {0: "batch"}, "last_hidden_state": {0: "batch"}, "pooler_output": {0: "batch"}},
            opset_version=args.opset,
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
