#!/usr/bin/python3
"""The fastest PyTorch TEMI training step we can write, next to the
authors' own formulation, with the FLOP count and the GEMM peak to judge
both (bench/temi_recipe_compare.sh drives it).

Three jobs, one per invocation (the BLAS thread pool is sized when torch
or numpy loads, so each thread setting is a process of its own):

  time     times training steps of one variant at one recipe:
             --variant authors  the authors' code (HHU-MMBS/TEMI-official-BMVC2023,
                                model_builders/multi_head.py, losses/multihead_losses.py,
                                train_main.py): 16 DINOHead modules in a
                                ModuleList run one after another,
                                nn.utils.weight_norm last layer, the teacher
                                forward outside no_grad (its parameters
                                have requires_grad False), the teacher
                                softmax computed twice per head (weight, then
                                loss), jit-scripted beta_mi, AdamW with its
                                default per-parameter loop, EMA one
                                parameter at a time;
             --variant tuned    the same maths with the heads batched and
                                feature-major (one [H*512, D] x [D, 2B]
                                product for the first layer of all heads,
                                bmm's after it, no transposes), the first
                                layer's bias fused into it (addmm), the
                                teacher under inference_mode, teacher
                                probabilities once, multi-tensor AdamW and
                                EMA (foreach), zero_grad(set_to_none=True).
           Each step gathers its 2B rows from a random [N, D] train matrix
           (index_select, as clusterlab's Fit does) and reads the loss back
           (.item()). It prints one JSON line: per-step wall times, their
           median, the epoch extrapolated from the median (N // B steps),
           GFLOP/s of the step's matrix products.
  golden   checks both variants' loss (forward, prior, weight, gradient of
           the student logits) in float64 against
           losses/losstest/testdata/temi_golden.json, and the two variants'
           whole steps against each other (same init, same batches: the
           losses and weights after 3 steps).
  gemm     times fp32 matrix products of the step's shapes with numpy
           (OpenBLAS) and torch.mm / torch.bmm, best of several.
  flops    prints the FLOP count of one step at a recipe.

Threads: --threads sets torch.set_num_threads (ATen's OpenMP pool: the
elementwise ops); --blas-threads sets OPENBLAS_NUM_THREADS (Debian's torch
and numpy do their matrix products in OpenBLAS, pthreads build, whose pool
ignores torch.set_num_threads) before torch loads.

    /usr/bin/python3 bench/temi_torch_fast.py time --variant tuned --recipe mnist --threads 2 --blas-threads 2
    /usr/bin/python3 bench/temi_torch_fast.py golden losses/losstest/testdata/temi_golden.json
    /usr/bin/python3 bench/temi_torch_fast.py gemm --recipe mnist --blas-threads 2
    /usr/bin/python3 bench/temi_torch_fast.py flops --recipe mnist
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

RECIPES = {
    # MNIST raw pixels: D 784, K 10, B 256, N 60,000 (234 steps an epoch).
    "mnist": dict(dim=784, clusters=10, batch=256, rows=60000),
    # CIFAR-100 on a ViT-B (D 768), K 100, N 50,000; B 256 or the
    # authors' 1024 (--batch).
    "cifar100": dict(dim=768, clusters=100, batch=256, rows=50000),
}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("job", choices=["time", "golden", "gemm", "flops"])
    p.add_argument("golden_path", nargs="?", default="losses/losstest/testdata/temi_golden.json")
    p.add_argument("--variant", choices=["authors", "tuned"], default="tuned")
    p.add_argument("--recipe", choices=sorted(RECIPES), default="mnist")
    p.add_argument("--batch", type=int, default=0, help="pairs per step B (0: the recipe's)")
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--bottleneck", type=int, default=256)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    p.add_argument("--blas-threads", type=int, default=1, help="OPENBLAS_NUM_THREADS")
    p.add_argument("--steps", type=int, default=12, help="timed steps (0: a whole epoch)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeat", type=int, default=5, help="gemm: timed repetitions per shape")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bf16", action="store_true", help="tuned variant: matrix products in bfloat16 (torch.autocast on the CPU; oneDNN, AMX where present), loss and AdamW state in float32")
    a = p.parse_args(argv)
    r = dict(RECIPES[a.recipe])
    if a.batch:
        r["batch"] = a.batch
    a.dim, a.clusters, a.batch, a.rows = r["dim"], r["clusters"], r["batch"], r["rows"]
    return a


ARGS = parse_args(sys.argv[1:])
for _var in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS"):
    os.environ[_var] = str(ARGS.blas_threads)

import numpy as np  # noqa: E402  (after the BLAS pinning)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

STUDENT_TEMP, TEACHER_TEMP, BETA, PROBS_MOMENTUM, TEACHER_MOMENTUM = 0.1, 0.1, 0.6, 0.9, 0.996


# ---------------------------------------------------------------- FLOPs

def step_flops(dim, heads, hidden, bottleneck, clusters, batch):
    """FLOPs (2 per multiply-add) of one step's matrix products, by part,
    and the rest's parameter count for the optimizer and EMA."""
    rows = 2 * batch
    mm = lambda m, k, n: 2.0 * m * k * n  # noqa: E731
    l1 = mm(rows, dim, heads * hidden)  # one forward of the first layer, all heads
    l2 = heads * mm(rows, hidden, bottleneck)
    l3 = heads * mm(rows, bottleneck, clusters)
    parts = {
        # student forward, teacher forward, weight gradient; the input
        # gradient is not needed (the embeddings are frozen).
        "layer1": 3 * l1,
        # student forward, teacher forward, input gradient, weight gradient
        "layer2": 4 * l2,
        "last_layer": 4 * l3,
    }
    params = heads * (dim * hidden + hidden + hidden * bottleneck + bottleneck + clusters * bottleneck + clusters)
    # AdamW about 12 flops per parameter (moments, bias corrections,
    # sqrt, divide, decay), EMA 3; elementwise parts of the forward and
    # backward (GELU, normalise, softmax, loss) about 30 per hidden unit.
    other = 15.0 * params + 30.0 * 2 * rows * heads * hidden
    return {"gemm_flop": sum(parts.values()), "parts_gflop": {k: v / 1e9 for k, v in parts.items()},
            "params": params, "other_gflop_approx": other / 1e9}


# ------------------------------------------------------------ the loss

def temi_loss_tuned(student, teacher, prior, student_temp=STUDENT_TEMP, teacher_temp=TEACHER_TEMP,
                    beta=BETA, momentum=PROBS_MOMENTUM):
    """TEMI on logits [H, 2B, K] (rows b and B+b form pair b): per-head
    losses [H], the updated prior [H, K], the pair weight [B]. The same
    formula as bench/temi_step_torch.py's temi_loss; the teacher
    probabilities are computed once, before the prior update."""
    batch = student.shape[1] // 2
    ps = F.softmax(student / student_temp, dim=-1)
    with torch.no_grad():
        pt = F.softmax(teacher / teacher_temp, dim=-1)
        prior = momentum * prior + (1 - momentum) * pt.mean(dim=1)
        weight = (pt[:, :batch] * pt[:, batch:]).sum(dim=-1).mean(dim=0)  # [B]
        # The crossed pairs as one tensor: student view v meets teacher
        # view w != v, i.e. teacher rows swapped by view.
        pt_swap = torch.cat([pt[:, batch:], pt[:, :batch]], dim=1)
        inv_prior = (1.0 / prior)[:, None, :]
    emi = ((ps * pt_swap) ** beta * inv_prior).sum(dim=-1)  # [H, 2B]
    # mean over the B pairs of each of the 2 crossed terms, halved = mean over 2B rows
    per_head = -(emi.log() * torch.cat([weight, weight])).mean(dim=-1)
    return per_head, prior, weight


@torch.jit.script
def sim_weight(p1, p2, gamma: float = 1.):
    return (p1 * p2).pow(gamma).sum(dim=-1)


@torch.jit.script
def beta_mi(p1, p2, pk, beta: float = 1., clip_min: float = -torch.inf):
    beta_emi = (((p1 * p2) ** beta) / pk).sum(dim=-1)
    beta_pmi = beta_emi.log().clamp(min=clip_min)
    return -beta_pmi


class AuthorsTEMI(nn.Module):
    """losses/multihead_losses.py's TEMI (MultiHeadWeightProbBase.forward
    and compute_weight, StudentTeacherLoss.update_ema), with the epoch-0
    teacher temperature and one process (no all_reduce)."""

    def __init__(self, heads, clusters, batch, dtype=torch.float32, student_temp=STUDENT_TEMP,
                 teacher_temp=TEACHER_TEMP, beta=BETA, probs_momentum=PROBS_MOMENTUM):
        super().__init__()
        self.batchsize, self.num_heads, self.beta = batch, heads, beta
        self.student_temp, self.teacher_temp, self.probs_momentum = student_temp, teacher_temp, probs_momentum
        self.min_mi = -torch.inf
        self.register_buffer("pk", 1 / clusters * torch.ones(heads, clusters, dtype=dtype))

    def student_probs(self, x):
        return F.softmax(x / self.student_temp, dim=-1)

    def teacher_probs(self, x):
        return F.softmax(x / self.teacher_temp, dim=-1)

    @staticmethod
    def update_ema(output, ema, momentum):
        if isinstance(output, tuple):
            output = torch.cat(output)
        batch_center = torch.sum(output, dim=0, keepdim=True)
        batch_center = batch_center / len(output)
        return ema * momentum + batch_center * (1 - momentum)

    def compute_weight(self, teacher_out):
        weight_total, weight_count = 0, 0
        with torch.no_grad():
            for idx, t in enumerate(teacher_out):
                n = len(t) // self.batchsize
                tp = self.teacher_probs(t).detach().chunk(n)
                self.pk[idx] = self.update_ema(tp, self.pk[idx], self.probs_momentum)
                for v1 in range(n):
                    for v2 in list(range(n))[v1 + 1:]:
                        weight_total += sim_weight(tp[v1], tp[v2])
                        weight_count += 1
            return weight_total / weight_count

    def forward(self, student_out, teacher_out):
        multi_loss = []
        weight = self.compute_weight(teacher_out)
        for idx, (s, t) in enumerate(zip(student_out, teacher_out)):
            ns, nt = len(s) // self.batchsize, len(t) // self.batchsize
            sp = self.student_probs(s).chunk(ns)
            with torch.no_grad():
                tp = self.teacher_probs(t).detach().chunk(nt)
            tmp_loss, count = 0, 0
            for w in range(nt):
                for v in range(ns):
                    if v == w:
                        continue
                    tmp_loss += (weight * beta_mi(sp[v], tp[w], self.pk[idx], beta=self.beta,
                                                  clip_min=self.min_mi)).mean()
                    count += 1
            multi_loss.append(tmp_loss / count)
        return torch.stack(multi_loss), weight


# ------------------------------------------------------------ the heads

def trunc_normal_(t, std):
    # utils.trunc_normal_ of the authors (DINO's) draws in [-2, 2] absolute
    # bounds, as torch.nn.init.trunc_normal_ does by default.
    return nn.init.trunc_normal_(t, std=std)


class DINOHead(nn.Module):
    """model_builders/multi_head.py's DINOHead, nlayers 2, no BN, no
    dropout, norm_last_layer False."""

    def __init__(self, in_dim, out_dim, hidden_dim, bottleneck_dim):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, bottleneck_dim))
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                nn.init.constant_(m.bias, 0)
        self.last_layer = nn.utils.weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        self.last_layer.weight_g.data.fill_(1)

    def forward(self, x):
        x = self.mlp(x)
        x = F.normalize(x, dim=-1, p=2)
        return self.last_layer(x)


class AuthorsModel(nn.Module):
    """MultiHeadClassifier on precomputed embeddings: identity backbone
    ((x - mean) / std with mean 0, std 1), then every head in turn."""

    def __init__(self, a):
        super().__init__()
        self.register_buffer("embed_mean", torch.zeros(a.dim))
        self.register_buffer("embed_std", torch.ones(a.dim))
        self.heads = nn.ModuleList([DINOHead(a.dim, a.clusters, a.hidden, a.bottleneck) for _ in range(a.heads)])

    def forward(self, views):
        x = torch.cat(views)
        x = (x - self.embed_mean) / self.embed_std
        return [h(x) for h in self.heads]


class BatchedHeads(nn.Module):
    """H heads as batched weights, feature-major: the first layer of all
    heads is one [H*hidden, D] x [D, 2B] product (bias fused: addmm), so
    that every activation after it is a contiguous [H, features, 2B]
    batch and the second layer, its gradients and the last layer are
    plain bmm's without copies (a row-major [2B, H*hidden] output would
    have to be transposed per head: torch then runs strided bmm's head by
    head at half the speed)."""

    def __init__(self, a):
        super().__init__()
        h, d, hid, bn, k = a.heads, a.dim, a.hidden, a.bottleneck, a.clusters
        self.w1 = nn.Parameter(torch.empty(h * hid, d))  # nn.Linear's [out, in], heads stacked
        self.b1 = nn.Parameter(torch.zeros(h * hid, 1))
        self.w2 = nn.Parameter(torch.empty(h, bn, hid))
        self.b2 = nn.Parameter(torch.zeros(h, bn, 1))
        self.v = nn.Parameter(torch.empty(h, k, bn))
        self.g = nn.Parameter(torch.ones(h, k, 1))
        trunc_normal_(self.w1, .02)
        trunc_normal_(self.w2, .02)
        bound = 1 / math.sqrt(bn)
        nn.init.uniform_(self.v, -bound, bound)
        self.heads, self.hidden = h, hid

    def load_from_authors(self, m):
        """Copies an AuthorsModel's weights (for the cross-check)."""
        with torch.no_grad():
            hs = list(m.heads)
            self.w1.copy_(torch.cat([h.mlp[0].weight for h in hs]))
            self.b1.copy_(torch.cat([h.mlp[0].bias for h in hs])[:, None])
            self.w2.copy_(torch.stack([h.mlp[2].weight for h in hs]))
            self.b2.copy_(torch.stack([h.mlp[2].bias[:, None] for h in hs]))
            self.v.copy_(torch.stack([h.last_layer.weight_v for h in hs]))
            self.g.copy_(torch.stack([h.last_layer.weight_g for h in hs]))

    def forward(self, x):  # x [2B, D] -> logits [H, 2B, K]
        rows = x.shape[0]
        h = F.gelu(torch.addmm(self.b1, self.w1, x.t()))  # [H*hidden, 2B]
        u = torch.baddbmm(self.b2, self.w2, h.view(self.heads, self.hidden, rows))  # [H, bn, 2B]
        u = F.normalize(u, dim=1)
        last = self.g * self.v / self.v.norm(dim=-1, keepdim=True)  # [H, K, bn]
        return torch.bmm(last, u).transpose(1, 2)  # [H, 2B, K], a strided view


# ------------------------------------------------------------ the steps

def param_groups(model):
    """utils.get_params_groups of the authors (DINO): no weight decay on
    biases and 1-d parameters."""
    reg, not_reg = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (not_reg if name.endswith(".bias") or name in ("b1", "b2") or p.ndim == 1 else reg).append(p)
    return [{"params": reg}, {"params": not_reg, "weight_decay": 0.}]


class AuthorsStep:
    def __init__(self, a):
        self.student, self.teacher = AuthorsModel(a), AuthorsModel(a)
        self.teacher.load_state_dict(self.student.state_dict())
        for p in self.teacher.parameters():
            p.requires_grad = False
        self.loss = AuthorsTEMI(a.heads, a.clusters, a.batch, dtype=torch.get_default_dtype())
        self.opt = torch.optim.AdamW(param_groups(self.student))
        lr = 1e-4 * a.batch / 256
        for i, g in enumerate(self.opt.param_groups):
            g["lr"] = lr
            if i == 0:
                g["weight_decay"] = 1e-4
        self.batch = a.batch

    def __call__(self, x):
        views = [x[:self.batch], x[self.batch:]]  # the DataLoader's two views
        teacher_out, student_out = self.teacher(views), self.student(views)
        head_losses, _ = self.loss(student_out, teacher_out)
        loss = head_losses.mean()
        if not math.isfinite(loss.item()):
            raise SystemExit("non-finite loss")
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            m = TEACHER_MOMENTUM
            for q, k in zip(self.student.parameters(), self.teacher.parameters()):
                k.data.mul_(m).add_((1 - m) * q.detach().data)
        return loss.item()


class TunedStep:
    def __init__(self, a, init_from=None):
        self.student, self.teacher = BatchedHeads(a), BatchedHeads(a)
        if init_from is not None:
            self.student.load_from_authors(init_from)
        self.teacher.load_state_dict(self.student.state_dict())
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        s = self.student
        self.opt = torch.optim.AdamW(
            [{"params": [s.w1, s.w2, s.v, s.g], "weight_decay": 1e-4},
             {"params": [s.b1, s.b2], "weight_decay": 0.0}],
            lr=1e-4 * a.batch / 256, betas=(0.9, 0.999), eps=1e-8, foreach=True)
        self.prior = torch.full((a.heads, a.clusters), 1 / a.clusters)
        self.s_params, self.t_params = list(self.student.parameters()), list(self.teacher.parameters())
        self.bf16 = getattr(a, "bf16", False)

    def __call__(self, x):
        # --bf16: the products in bfloat16 (torch.autocast: oneDNN, AMX
        # where the CPU has it), the loss, the gradients' accumulation and
        # AdamW's state in float32.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            with torch.inference_mode():
                t_logits = self.teacher(x)
            s_logits = self.student(x)
        if self.bf16:  # the loss in float32, from the bfloat16 products
            s_logits, t_logits = s_logits.float(), t_logits.float()
        per_head, self.prior, self.last_weight = temi_loss_tuned(s_logits, t_logits, self.prior)
        loss = per_head.mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            torch._foreach_mul_(self.t_params, TEACHER_MOMENTUM)
            torch._foreach_add_(self.t_params, self.s_params, alpha=1 - TEACHER_MOMENTUM)
        v = loss.item()
        if not math.isfinite(v):
            raise SystemExit("non-finite loss")
        return v


# ------------------------------------------------------------ jobs

def job_time(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    # Synthetic embeddings: only the shapes matter for the time.
    data = torch.randn(a.rows, a.dim, generator=gen)
    knn = torch.randint(0, a.rows, (a.rows, 50), generator=gen)
    step = AuthorsStep(a) if a.variant == "authors" else TunedStep(a)
    ipe = a.rows // a.batch
    n = ipe if a.steps == 0 else min(a.steps, ipe)

    def batches():
        anchors = torch.randperm(a.rows, generator=gen)[:ipe * a.batch]
        partners = knn[anchors, torch.randint(0, 50, (anchors.numel(),), generator=gen)]
        return torch.cat([anchors.view(ipe, a.batch), partners.view(ipe, a.batch)], dim=1)

    warm = batches()
    for i in range(a.warmup):
        step(data.index_select(0, warm[i]))
    t0 = time.perf_counter()
    idx = batches()
    pairs_s = time.perf_counter() - t0
    times, cpu0, wall0 = [], time.process_time(), time.perf_counter()
    loss = 0.0
    for i in range(n):
        s = time.perf_counter()
        loss += step(data.index_select(0, idx[i]))
        times.append(time.perf_counter() - s)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    fl = step_flops(a.dim, a.heads, a.hidden, a.bottleneck, a.clusters, a.batch)
    med = statistics.median(times)
    print(json.dumps({
        "variant": a.variant + ("-bf16" if getattr(a, "bf16", False) else ""), "recipe": a.recipe, "dim": a.dim, "clusters": a.clusters, "batch": a.batch,
        "rows": a.rows, "heads": a.heads, "threads": torch.get_num_threads(), "blas_threads": a.blas_threads,
        "steps_timed": n, "steps_per_epoch": ipe,
        "median_ms_per_step": round(1000 * med, 2), "mean_ms_per_step": round(1000 * wall / n, 2),
        "min_ms_per_step": round(1000 * min(times), 2), "cpu_ms_per_step": round(1000 * cpu / n, 2),
        "s_per_epoch": round(pairs_s + ipe * med, 2),
        "s_per_epoch_measured": round(pairs_s + wall, 2) if n == ipe else None,
        "gemm_gflop_per_step": round(fl["gemm_flop"] / 1e9, 3),
        "gflops": round(fl["gemm_flop"] / 1e9 / med, 1),
        "mean_loss": loss / n, "torch": torch.__version__,
    }))


def job_golden(path):
    """Both losses in float64 against the golden file, then the two
    variants' steps against each other."""
    with open(path) as f:
        cases = [c for c in json.load(f)["cases"] if c["loss"] == "TEMI"]
    worst = {"authors": 0.0, "tuned": 0.0}
    for c in cases:
        p = c["params"]
        H, B, K = p["H"], p["B"], p["K"]
        hp = dict(student_temp=p["student_temp"], teacher_temp=p["teacher_temp"], beta=p["beta"])
        auth = AuthorsTEMI(H, K, B, dtype=torch.float64, probs_momentum=p["probs_momentum"], **hp)
        prior = torch.tensor(c["pk_initial"], dtype=torch.float64)
        # The authors' buffer is float32 1/K cast to float64 by .double():
        # the golden file's initial prior holds that value.
        auth.pk.copy_(prior)
        for call in c["calls"]:
            want = {k: torch.tensor(call[k], dtype=torch.float64)
                    for k in ("head_losses", "pk_after", "weight", "grad_student_logits")}
            # authors
            s = torch.tensor(call["student_logits"], dtype=torch.float64, requires_grad=True)
            t = torch.tensor(call["teacher_logits"], dtype=torch.float64)
            hl, w = auth(list(s), list(t))
            hl.mean().backward()
            got = {"head_losses": hl, "pk_after": auth.pk, "weight": w, "grad_student_logits": s.grad}
            for k in want:
                worst["authors"] = max(worst["authors"], (got[k].detach() - want[k]).abs().max().item())
            # tuned
            s = torch.tensor(call["student_logits"], dtype=torch.float64, requires_grad=True)
            hl, prior, w = temi_loss_tuned(s, t, prior, momentum=p["probs_momentum"], **hp)
            hl.mean().backward()
            got = {"head_losses": hl, "pk_after": prior, "weight": w, "grad_student_logits": s.grad}
            for k in want:
                worst["tuned"] = max(worst["tuned"], (got[k].detach() - want[k]).abs().max().item())
    for k, v in worst.items():
        if v > 1e-10:
            raise SystemExit("golden check failed: %s max abs error %.3g" % (k, v))

    # The whole steps: same weights, same batches, float64, 3 steps.
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    a = argparse.Namespace(dim=24, heads=3, hidden=16, bottleneck=8, clusters=5, batch=6)
    au = AuthorsStep(a)
    tu = TunedStep(a, init_from=au.student)
    for p in tu.opt.param_groups:  # same lr as AuthorsStep's
        p["lr"] = au.opt.param_groups[0]["lr"]
    step_err = 0.0
    for i in range(3):
        x = torch.randn(2 * a.batch, a.dim)
        la, lt = au(x), tu(x)
        step_err = max(step_err, abs(la - lt))
    ref = BatchedHeads(a)
    ref.load_from_authors(au.teacher)
    for name, p in ref.named_parameters():
        step_err = max(step_err, (p - dict(tu.teacher.named_parameters())[name]).abs().max().item())
    torch.set_default_dtype(torch.float32)
    if step_err > 1e-10:
        raise SystemExit("authors and tuned steps differ: max abs %.3g" % step_err)
    print(json.dumps({"golden": path, "temi_cases": len(cases), "max_abs_error": worst,
                      "authors_vs_tuned_3_steps_max_abs": step_err}))


def best_seconds(fn, repeat):
    fn()
    ts = []
    for _ in range(repeat):
        s = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - s)
    return min(ts)


def job_gemm(a):
    torch.set_num_threads(a.threads)
    rows, h, hid, bn = 2 * a.batch, a.heads, a.hidden, a.bottleneck
    rng = np.random.default_rng(0)
    shapes = {
        # name: (m, k, n, batch) for A[m,k] @ B[k,n]; batch > 1: bmm
        "l1_fwd %dx%dx%d" % (rows, a.dim, h * hid): (rows, a.dim, h * hid, 1),
        "l1_wgrad %dx%dx%d (x^T dH)" % (a.dim, rows, h * hid): (a.dim, rows, h * hid, 1),
        "l2_fwd %dx(%dx%dx%d)" % (h, rows, hid, bn): (rows, hid, bn, h),
        "issue 4096x768x512": (4096, 768, 512, 1),
    }
    out = []
    for name, (m, k, n, nb) in shapes.items():
        flop = 2.0 * m * k * n * nb
        if "wgrad" in name:
            # the real operands: x [rows, D] transposed, dH [rows, H*hid]
            xa = rng.standard_normal((k, m), dtype=np.float32)
            xb = rng.standard_normal((k, n), dtype=np.float32)
            npf = lambda: xa.T @ xb  # noqa: E731
            ta, tb = torch.from_numpy(xa), torch.from_numpy(xb)
            tf = lambda: torch.mm(ta.t(), tb)  # noqa: E731
        elif nb > 1:
            xa = rng.standard_normal((nb, m, k), dtype=np.float32)
            xb = rng.standard_normal((nb, k, n), dtype=np.float32)
            npf = lambda: np.matmul(xa, xb)  # noqa: E731
            ta, tb = torch.from_numpy(xa), torch.from_numpy(xb)
            tf = lambda: torch.bmm(ta, tb)  # noqa: E731
        else:
            xa = rng.standard_normal((m, k), dtype=np.float32)
            xb = rng.standard_normal((k, n), dtype=np.float32)
            npf = lambda: xa @ xb  # noqa: E731
            ta, tb = torch.from_numpy(xa), torch.from_numpy(xb)
            tf = lambda: torch.mm(ta, tb)  # noqa: E731
        tn, tt = best_seconds(npf, a.repeat), best_seconds(tf, a.repeat)
        out.append({"shape": name, "gflop": round(flop / 1e9, 3),
                    "numpy_ms": round(1000 * tn, 2), "numpy_gflops": round(flop / tn / 1e9, 1),
                    "torch_ms": round(1000 * tt, 2), "torch_gflops": round(flop / tt / 1e9, 1)})
    print(json.dumps({"recipe": a.recipe, "batch": a.batch, "blas_threads": a.blas_threads,
                      "torch_threads": torch.get_num_threads(), "gemm": out}))


def main():
    a = ARGS
    if a.job == "time":
        job_time(a)
    elif a.job == "golden":
        job_golden(a.golden_path)
    elif a.job == "gemm":
        job_gemm(a)
    else:
        fl = step_flops(a.dim, a.heads, a.hidden, a.bottleneck, a.clusters, a.batch)
        ipe = a.rows // a.batch
        print(json.dumps({"recipe": a.recipe, "batch": a.batch, "steps_per_epoch": ipe,
                          "gemm_gflop_per_step": fl["gemm_flop"] / 1e9, "parts_gflop": fl["parts_gflop"],
                          "gemm_tflop_per_epoch": fl["gemm_flop"] * ipe / 1e12, "params": fl["params"],
                          "other_gflop_per_step_approx": fl["other_gflop_approx"]}))


if __name__ == "__main__":
    main()
