#!/usr/bin/python3
"""Data for bench/memory_cifar100.sh: a CIFAR-100-sized data set and a
DINOv2-architecture model with 768-dimensional embeddings.

    /usr/bin/python3 bench/make_cifar100_sized.py OUT_DIR

writes
  OUT_DIR/cifar-100-binary/{train.bin,test.bin,fine_label_names.txt,coarse_label_names.txt}
      50,000 + 10,000 32x32 RGB images in the CIFAR-100 binary format
      (coarse label byte, fine label byte, 3072 pixel bytes per record):
      each image is a smooth random colour field of its class plus noise,
      so the features carry some class structure;
  OUT_DIR/vit768.onnx
      the DINOv2 ViT of backbones/dinov2/testdata/make_fixtures.py with
      embed_dim 768 (ViT-B's width), 1 block, 12 heads, patch 14, exported
      for 28x28 inputs (a 2x2 patch grid) so that embedding 60,000 images
      takes about a minute on a CPU. The pipeline (read, preprocess,
      infer, stream to the store) is the real one; only the model is small.
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "backbones", "dinov2", "testdata"))
import make_fixtures as mf  # noqa: E402


def write_cifar(out):
    d = os.path.join(out, "cifar-100-binary")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(0)
    # One low-frequency colour pattern per class, upsampled from 4x4.
    protos = rng.integers(0, 256, size=(100, 4, 4, 3)).astype(np.float32)
    protos = protos.repeat(8, axis=1).repeat(8, axis=2)
    for name, n in (("train.bin", 50000), ("test.bin", 10000)):
        fine = rng.integers(0, 100, size=n)
        rec = np.empty((n, 3074), np.uint8)
        rec[:, 0] = fine // 5
        rec[:, 1] = fine
        for s in range(0, n, 5000):
            f = fine[s:s + 5000]
            img = protos[f] + rng.normal(0, 40, size=(len(f), 32, 32, 3))
            img = np.clip(img, 0, 255).astype(np.uint8)
            rec[s:s + 5000, 2:] = img.transpose(0, 3, 1, 2).reshape(len(f), 3072)  # CHW planes
        rec.tofile(os.path.join(d, name))
    with open(os.path.join(d, "fine_label_names.txt"), "w") as f:
        f.write("".join(f"class_{i:02d}\n" for i in range(100)))
    with open(os.path.join(d, "coarse_label_names.txt"), "w") as f:
        f.write("".join(f"super_{i:02d}\n" for i in range(20)))


def write_model(out):
    torch.manual_seed(0)
    m = mf.DinoVisionTransformer(embed_dim=768, depth=1, num_heads=12, num_register_tokens=0,
                                 interpolate_antialias=False, interpolate_offset=0.1)
    mf.randomize(m, 1)
    mf.export(mf.HFStyle(m), 28, "pixel_values", ["last_hidden_state", "pooler_output"],
              os.path.join(out, "vit768.onnx"))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    write_cifar(out)
    write_model(out)
    print(f"wrote {out}/cifar-100-binary and {out}/vit768.onnx")
