#!/usr/bin/env python3
"""bench/temi_epoch_torch.py on a chosen device (--device cuda), for the GPU
session (bench/gpu_session.sh).

The same epochs as bench/temi_epoch_torch.py (which it imports and leaves
unchanged): N random train embeddings [N, D] and a random k-NN table
[N, knn]; each epoch shuffles the anchors, cuts them into N // B batches,
draws one partner per anchor from its knn neighbours, and every step
gathers the 2B rows and runs the TEMI step of bench/temi_step_torch.py
(student and EMA teacher heads, TEMI loss, AdamW foreach, EMA), reading the
loss back (`loss.item()`, which also waits for the GPU). Here the
embeddings, the k-NN table, the heads, the optimiser state and the prior
live on --device; the pairs are drawn there too (torch.randperm and
torch.randint with a generator on that device), so no step waits for the
host beyond the loss read-back, as the Go trainer's steps read back theirs.

    python3 bench/gpu/temi_epoch_torch_device.py --device cuda --epochs 100 --steps 0

Extra options: --device (cpu, cuda, cuda:N), --tf32 (allow TF32 in float32
matrix products, torch's default is off: compare with the xla backend,
whose CUDA plugin uses TF32 unless told tf32=false), --compile (wrap the
heads' forward in torch.compile; off by default, the reference is eager).
It prints one JSON line like temi_epoch_torch.py's, plus "device",
"device_name", "tf32", "total_s" (all timed epochs, the whole wall time)
and "setup_s" (data, model and warm-up steps).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# Import order as in temi_epoch_torch.py: temi_step_torch pins the BLAS
# threads from --threads before torch loads.
import temi_step_torch as ref  # noqa: E402
import temi_epoch_torch as epoch_ref  # noqa: E402

import torch  # noqa: E402


def split_args(argv):
    """Our options out of argv; the rest goes to temi_epoch_torch's parser."""
    own = {"device": "cpu", "tf32": False, "compile": False}
    rest = []
    it = iter(argv)
    for a in it:
        if a == "--device":
            own["device"] = next(it, None)
            if own["device"] is None:
                raise SystemExit("--device needs a value (cpu, cuda, cuda:N)")
        elif a.startswith("--device="):
            own["device"] = a.split("=", 1)[1]
        elif a == "--tf32":
            own["tf32"] = True
        elif a == "--compile":
            own["compile"] = True
        else:
            rest.append(a)
    return own, rest


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def epoch_batches(gen, knn_table, batch):
    """temi_epoch_torch.epoch_batches on knn_table's device."""
    n, k = knn_table.shape
    steps = n // batch
    dev = knn_table.device
    anchors = torch.randperm(n, generator=gen, device=dev)[:steps * batch]
    pick = torch.randint(0, k, (anchors.numel(),), generator=gen, device=dev)
    partners = knn_table[anchors, pick]
    return torch.cat([anchors.view(steps, batch), partners.view(steps, batch)], dim=1)


def main(argv):
    own, rest = split_args(argv)
    args = epoch_ref.parse_args(rest)
    dev = torch.device(own["device"])
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device %s: torch %s sees no CUDA device" % (own["device"], torch.__version__))
    torch.backends.cuda.matmul.allow_tf32 = own["tf32"]
    torch.backends.cudnn.allow_tf32 = own["tf32"]
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    t_setup = time.perf_counter()
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    data = torch.randn(args.rows, args.dim, generator=gen, device=dev)
    knn_table = torch.randint(0, args.rows, (args.rows, args.knn), generator=gen, device=dev)
    step = ref.Step(args)  # built on the CPU, then moved: .to() keeps the Parameter objects
    step.student.to(dev)
    step.teacher.to(dev)
    step.prior = step.prior.to(dev)
    if own["compile"]:
        step.student.forward = torch.compile(step.student.forward)
        step.teacher.forward = torch.compile(step.teacher.forward)
    ipe = args.rows // args.batch
    steps = ipe if args.steps == 0 or args.steps > ipe else args.steps

    warm = epoch_batches(gen, knn_table, args.batch)
    for i in range(args.warmup):
        step(data.index_select(0, warm[i % len(warm)]))
    sync(dev)
    setup_s = time.perf_counter() - t_setup

    t, pairs, loss = epoch_ref.timed_epochs(step, data, knn_table, gen, args, steps,
                                             sync=lambda: sync(dev), draw=epoch_batches)
    n = args.epochs * steps
    pairs_s = pairs / args.epochs
    step_wall = (t["wall"] - pairs) / n
    step_cpu = (t["cpu"] - pairs) / n
    print(json.dumps({
        "part": "torch_epochs",
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "tf32": own["tf32"], "compile": own["compile"],
        "s_per_epoch": round(pairs_s + ipe * step_wall, 4),
        "cpu_s_per_epoch": round(pairs_s + ipe * step_cpu, 4),
        "ms_per_step": round(1000 * t["wall"] / n, 4),
        "cpu_ms_per_step": round(1000 * t["cpu"] / n, 4),
        "pairs_ms_per_epoch": round(1000 * pairs_s, 3),
        "total_s": round(t["wall"], 3), "setup_s": round(setup_s, 3),
        "steps_timed": steps, "steps_per_epoch": ipe, "epochs": args.epochs,
        "threads": torch.get_num_threads(),
        "heads": args.heads, "dim": args.dim, "hidden": args.hidden, "bottleneck": args.bottleneck,
        "clusters": args.clusters, "batch": args.batch, "rows": args.rows, "knn": args.knn,
        "mean_loss": loss, "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
