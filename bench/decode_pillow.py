#!/usr/bin/python3
"""Pillow's side of bench/decode_compare.sh: writes the benchmark's JPEGs,
and times Image.open(p).convert("RGB") on them as torchvision's ImageFolder
loads an image (pil_loader), in one process and in a process pool.

    /usr/bin/python3 bench/decode_pillow.py make --out DIR --n 2000 --size 256
    /usr/bin/python3 bench/decode_pillow.py time --root DIR [--repeat 3] [--procs 0] [--ref-out pillow.npy --ref-n 200]

make writes N photo-like JPEGs (smooth random fields, edges and noise;
quality 90, Pillow's default 4:2:0 subsampling), named img_00000.jpg on.
time decodes every file with np.asarray(Image.open(f).convert("RGB")),
--repeat times in one process and --repeat times on a multiprocessing pool
of --procs processes (default one per core) twice: once with each worker
returning only the shape (no pixel transfer: the decoding alone), once
with the workers returning the arrays to the parent, in order (imap,
chunks of about 1 MiB of pixels like the plugin's batches: what a PyTorch
DataLoader with workers pays to bring the images to the training
process; the parent touches each array's pixels), and prints
one JSON line: the seconds of each run, the best and median images per
second, the CPU seconds per image, the sha256 of every image's pixels in
name order; with --ref-out it writes the pixels of the first --ref-n
images as a uint8 [n, h, w, 3] .npy.
"""

import argparse
import hashlib
import json
import multiprocessing
import os
import resource
import sys
import time

import numpy as np
from PIL import Image, __version__ as pil_version


def make(args):
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    s = args.size
    for i in range(args.n):
        # A smooth random field (bilinear upsampling of coarse noise), a few
        # hard-edged shapes, fine noise: like a photo for the decoder.
        coarse = rng.uniform(0, 255, (8, 8, 3)).astype(np.float32)
        field = np.asarray(Image.fromarray(coarse.astype(np.uint8)).resize((s, s), Image.BILINEAR), dtype=np.float32)
        y, x = np.mgrid[0:s, 0:s]
        for _ in range(3):
            cy, cx, r = rng.uniform(0, s, 2).tolist() + [rng.uniform(s / 10, s / 3)]
            mask = (y - cy) ** 2 + (x - cx) ** 2 < r * r
            field[mask] = field[mask] * 0.4 + rng.uniform(0, 255, 3) * 0.6
        field += rng.normal(0, 6, field.shape)
        im = Image.fromarray(np.clip(field, 0, 255).astype(np.uint8))
        im.save(os.path.join(args.out, f"img_{i:05d}.jpg"), quality=90, subsampling=2)


def load(path):
    # torchvision's pil_loader, then the pixels as an array (what a
    # pipeline that feeds numpy or a tensor gets).
    with open(path, "rb") as f:
        return np.asarray(Image.open(f).convert("RGB"))


def load_shape(path):
    # The pool's workers return only the shape: no pixel transfer.
    return load(path).shape


def median(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def rates(n, runs):
    return {"run_seconds": runs, "best_images_per_second": n / min(runs),
            "median_images_per_second": n / median(runs)}


def time_pillow(args):
    files = sorted(os.path.join(args.root, f) for f in os.listdir(args.root))
    n = len(files)
    # One process: the decode and conversion of every image, as a
    # DataLoader with num_workers=0 does (the pixels loaded, nothing else).
    runs = []
    c0 = time.process_time()
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for p in files:
            load(p)
        runs.append(time.perf_counter() - t0)
    one = rates(n, runs)
    one["cpu_seconds_per_image"] = (time.process_time() - c0) / (n * args.repeat)
    # Untimed: the pixels, for the comparison.
    h = hashlib.sha256()
    ref = []
    size = None
    for i, p in enumerate(files):
        a = load(p)
        h.update(a.tobytes())
        size = size or f"{a.shape[1]}x{a.shape[0]}"
        if i < args.ref_n:
            ref.append(a)
    if args.ref_out:
        np.save(args.ref_out, np.stack(ref))
    # A pool of worker processes (one per core: the strongest Pillow
    # baseline on this machine), started before the clock.
    procs = args.procs or os.cpu_count()
    pooled = time_pool(files, procs, args.repeat, load_shape, False, 16)
    # The pixels brought to the parent: chunks of about 1 MiB of pixels
    # (the plugin's batches; a DataLoader worker hands over a batch).
    chunk = max(1, min((1 << 20) // load(files[0]).nbytes, 1024))
    transfer = time_pool(files, procs, args.repeat, load, True, chunk)
    transfer["chunksize"] = chunk
    print(json.dumps({
        "pillow": pil_version, "images": n, "size": size, "sha256": h.hexdigest(),
        "one_process": one, "pool_processes": procs, "pool": pooled, "pool_transfer": transfer,
    }))


def time_pool(files, procs, repeat, fn, ordered, chunk):
    """Times fn over files on a fresh Pool(procs), repeat runs, with imap
    (ordered) or imap_unordered; the parent's and the workers' CPU time per
    image both count."""
    n = len(files)
    runs = []
    with multiprocessing.Pool(procs) as pool:
        pool.map(fn, files[:procs * 2])
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        p0 = time.process_time()
        for _ in range(repeat):
            t0 = time.perf_counter()
            it = pool.imap(fn, files, chunksize=chunk) if ordered else pool.imap_unordered(fn, files, chunksize=chunk)
            for r in it:
                if ordered:
                    r[0, 0, 0]  # the array arrived in the parent
            runs.append(time.perf_counter() - t0)
        parent = time.process_time() - p0
        pool.close()
        pool.join()
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = rates(n, runs)
    # The workers' CPU time, reported when they exit (the warm-up's few
    # images included), and the parent's (receiving, unpickling).
    out["cpu_seconds_per_image"] = ((c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)) / (n * repeat)
    out["parent_cpu_seconds_per_image"] = parent / (n * repeat)
    return out


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--out", required=True)
    m.add_argument("--n", type=int, default=2000)
    m.add_argument("--size", type=int, default=256)
    m.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("time")
    t.add_argument("--root", required=True)
    t.add_argument("--ref-out")
    t.add_argument("--ref-n", type=int, default=200)
    t.add_argument("--repeat", type=int, default=3)
    t.add_argument("--procs", type=int, default=0, help="pool processes (0: one per core)")
    args = ap.parse_args()
    if pil_version != "9.4.0":
        print(f"note: Pillow {pil_version}, the plugin reproduces 9.4.0", file=sys.stderr)
    if args.cmd == "make":
        make(args)
    else:
        time_pillow(args)


if __name__ == "__main__":
    main()
