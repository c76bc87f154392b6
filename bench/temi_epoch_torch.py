#!/usr/bin/python3
"""PyTorch reference timing of TEMI training EPOCHS (docs/TEMI.md sections 2-8).

One epoch as the Go trainer (core/train Fit) runs it, on random data:
N train embeddings [N, D] and a k-NN table [N, knn] of random rows; each
epoch shuffles the N anchors, cuts them into N // B batches (the last
incomplete one dropped) and draws for every anchor one partner uniformly
from its knn neighbours; each step gathers the 2B rows (anchors, then
their partners) from the train matrix and runs the TEMI step of
temi_step_torch.py (student and EMA teacher heads, TEMI loss, AdamW, EMA
update), reading the loss back.

The pair drawing and the row gathering are timed with the steps. With
--steps S only the first S steps of each epoch run and the epoch time is
extrapolated: pair drawing + (N // B) x the mean time of the timed steps.

    /usr/bin/python3 bench/temi_epoch_torch.py --threads 2 --dim 768 --batch 1024 --steps 8

prints one JSON object, e.g. {"s_per_epoch": 61.2, "ms_per_step": 1270.0, ...}.
"""

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Importing temi_step_torch pins the BLAS thread pools from --threads
# before torch loads (see that file).
import temi_step_torch as ref  # noqa: E402

import torch  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (intra-op threads)")
    p.add_argument("--dim", type=int, default=768, help="embedding dimension D")
    p.add_argument("--heads", type=int, default=16, help="number of heads H")
    p.add_argument("--clusters", type=int, default=100, help="clusters K")
    p.add_argument("--batch", type=int, default=1024, help="pairs per batch B (2B rows)")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--bottleneck", type=int, default=256)
    p.add_argument("--rows", type=int, default=50000, help="train embeddings N")
    p.add_argument("--knn", type=int, default=50, help="neighbours per row; partners come from all of them")
    p.add_argument("--steps", type=int, default=0, help="steps timed per epoch (0 = the whole epoch)")
    p.add_argument("--epochs", type=int, default=1, help="timed epochs")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for name in ("threads", "dim", "heads", "clusters", "batch", "hidden", "bottleneck", "rows", "knn", "epochs"):
        if getattr(args, name) < 1:
            p.error("--%s must be at least 1" % name)
    if args.batch > args.rows:
        p.error("--batch %d exceeds --rows %d" % (args.batch, args.rows))
    if args.steps < 0 or args.warmup < 0:
        p.error("--steps and --warmup must be >= 0")
    return args


def epoch_batches(gen, knn_table, batch):
    """The row indices of every step of one epoch, as core/train's
    epochRows: shuffled anchors in batches of B, then one partner each
    drawn uniformly from its neighbours; a [steps, 2B] int64 tensor."""
    n, k = knn_table.shape
    steps = n // batch
    anchors = torch.randperm(n, generator=gen)[:steps * batch]
    pick = torch.randint(0, k, (anchors.numel(),), generator=gen)
    partners = knn_table[anchors, pick]
    return torch.cat([anchors.view(steps, batch), partners.view(steps, batch)], dim=1)


def timed_epochs(step, data, knn_table, gen, args, steps, sync=lambda: None, draw=epoch_batches):
    """Times args.epochs epochs of `steps` steps each: every epoch's pair
    drawing (also timed on its own; draw) and steps.
    sync waits for a device's queued work (a GPU's) before a clock is read.
    Returns the clock's
    figures, the seconds spent drawing pairs and the last epoch's mean loss."""
    clock = ref.ThreadClock()
    clock.start()
    pairs = 0.0
    loss = float("nan")
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        batches = draw(gen, knn_table, args.batch)
        sync()
        pairs += time.perf_counter() - t0
        total = 0.0
        for b in range(steps):
            total += step(data.index_select(0, batches[b]))
        loss = total / steps
    sync()
    t = clock.stop()
    if not math.isfinite(loss):
        raise SystemExit("non-finite loss %r" % loss)
    return t, pairs, loss


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    data = torch.randn(args.rows, args.dim, generator=gen)
    knn_table = torch.randint(0, args.rows, (args.rows, args.knn), generator=gen)
    step = ref.Step(args)
    ipe = args.rows // args.batch
    steps = ipe if args.steps == 0 or args.steps > ipe else args.steps

    warm = epoch_batches(gen, knn_table, args.batch)
    for i in range(args.warmup):
        step(data.index_select(0, warm[i % len(warm)]))

    t, pairs, loss = timed_epochs(step, data, knn_table, gen, args, steps)
    n = args.epochs * steps
    pairs_s = pairs / args.epochs
    step_wall = (t["wall"] - pairs) / n
    step_cpu = (t["cpu"] - pairs) / n
    print(json.dumps({
        "s_per_epoch": round(pairs_s + ipe * step_wall, 3),
        "cpu_s_per_epoch": round(pairs_s + ipe * step_cpu, 3),
        "ms_per_step": round(1000 * t["wall"] / n, 3),
        "cpu_ms_per_step": round(1000 * t["cpu"] / n, 3),
        "pairs_ms_per_epoch": round(1000 * pairs_s, 3),
        "steps_timed": steps, "steps_per_epoch": ipe, "epochs": args.epochs,
        "threads": torch.get_num_threads(),
        "busy_threads": t["busy_threads"], "thread_load": t["thread_load"],
        "runnable_threads": t["runnable_threads"], "max_runnable": t["max_runnable"],
        "heads": args.heads, "dim": args.dim, "hidden": args.hidden, "bottleneck": args.bottleneck,
        "clusters": args.clusters, "batch": args.batch, "rows": args.rows, "knn": args.knn,
        "mean_loss": loss, "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
