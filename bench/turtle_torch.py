#!/usr/bin/python3
"""PyTorch reference of TURTLE (/work/shared/TURTLE.md; Gadetsky, Jiang and
Brbic, ICML 2024), written as the authors' run_turtle.py runs it and made as
fast as plain PyTorch 1.13 on the CPU allows, to time clusterlab's turtle
loss plugin against.

One outer iteration, on a batch of B rows drawn without replacement:
1. tau = mean over spaces s of softmax(Z_s W_s^T + b_s), W_s = g_s V_s / ||V_s||_row;
2. the inner linear classifiers (fresh init and fresh Adam every iteration:
   cold start; --warm-start keeps both) take M Adam steps on
   sum_s CE(Z_s A_s^T + c_s, tau), tau detached;
3. L_outer = sum_s CE(u_s, tau) - gamma sum_s H(mean_rows softmax_s), the
   fitted inner logits u_s constant; one Adam step on theta = {V_s, g_s, b_s}.
The assignment is the argmax of tau on all rows.

Two implementations of steps 1-3 (--impl), checked against the same golden
values: "authors" is run_turtle.py's formulation (samples as rows,
F.cross_entropy with probability targets, autograd in the inner loop);
"tuned" (the default) computes the same thing class-major ([C, B]: a
softmax over the C entries of a column is vectorised across the B samples),
with the task encoder's product fused with the first inner product and the
inner gradient written out, about 15% faster here. Both keep every
feature tensor in memory, draw the batch with torch.randperm +
index_select, run the fitted inner logits under torch.no_grad, re-draw the
inner parameters in place and empty the inner Adam's state for a cold
start (what a new nn.Linear and a new torch.optim.Adam amount to).

    /usr/bin/python3 bench/turtle_features.py /tmp/mnist        # MNIST pixels as .npy
    /usr/bin/python3 bench/turtle_torch.py --features /tmp/mnist/train.npy \\
        --labels /tmp/mnist/train_labels.npy --test /tmp/mnist/test.npy \\
        --test-labels /tmp/mnist/test_labels.npy --clusters 10 --iterations 300 --threads 1
    /usr/bin/python3 bench/turtle_torch.py --check-golden losses/turtle/testdata/turtle_golden.json

The run prints one JSON object: ms_per_iter (the median over the iterations
after --warmup, batch drawing included), cpu_ms_per_iter, total and fit
times, the final losses, clusters used and ACC. The golden check runs the
very iteration code of the benchmark in float64 on the golden file's stored
inputs and asserts agreement to 1e-10.

Threads: --threads sets torch's intra-op (OpenMP) threads; --blas-threads
the pool of the BLAS that torch calls for its matrix products (Debian's
torch calls OpenBLAS, pthreads build, whose pool ignores
torch.set_num_threads and is sized from OPENBLAS_NUM_THREADS when it
loads), default = --threads. This script sets OPENBLAS_NUM_THREADS (and
OMP_NUM_THREADS, MKL_NUM_THREADS) before it imports torch.
"""

import argparse
import json
import math
import os
import re
import sys
import time

BETAS = (0.9, 0.999)
EPS = 1e-8


def _pin_threads(argv):
    """Sizes the BLAS and OpenMP pools from --blas-threads / --threads
    before torch (and the BLAS it links) loads; afterwards it is too late."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--threads", type=int, default=1)
    pre.add_argument("--blas-threads", type=int, default=0)
    known, _ = pre.parse_known_args(argv)
    blas = known.blas_threads if known.blas_threads > 0 else known.threads
    if known.threads >= 1 and blas >= 1:
        os.environ["OPENBLAS_NUM_THREADS"] = str(blas)
        os.environ["MKL_NUM_THREADS"] = str(blas)
        os.environ["OMP_NUM_THREADS"] = str(known.threads)


_pin_threads(sys.argv[1:])

import numpy as np  # noqa: E402  (after the thread pinning above)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def _total(terms):
    """Sum of a list of tensors without Python sum()'s leading 0 + (one op
    fewer for one space; bit-identical since 0 + x == x)."""
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


IMPLS = ("authors", "tuned")


class _FusedLinearT(torch.autograd.Function):
    """The task encoder's and the first inner classifier's logits, class
    major ([C, B]), from ONE product: [W; A] Z^T + [b; c] (one pass over
    the batch instead of two). The gradient flows to W and b only (A, c
    belong to the inner fit and are constants here) and costs what
    F.linear's backward costs: dW = g Z, db = sum over rows of g."""

    @staticmethod
    def forward(ctx, z, w, b, a, c):
        both = torch.addmm(torch.cat([b, c])[:, None], torch.cat([w, a]), z.t())
        ctx.save_for_backward(z)
        ctx.set_materialize_grads(False)
        n = w.shape[0]
        u = both[n:]  # rows of a row-major matrix: contiguous views
        ctx.mark_non_differentiable(u)
        return both[:n], u

    @staticmethod
    def backward(ctx, g_logits, g_u):
        (z,) = ctx.saved_tensors
        if g_logits is None:
            return None, None, None, None, None
        return None, g_logits.mm(z), g_logits.sum(dim=1), None, None


class Turtle:
    """TURTLE's parameters, optimisers and one outer iteration.

    dims: D_s per space; init (optional) fixes the task encoder's V, g, b
    and the first inner init (lists per space), as the golden file does;
    otherwise they are drawn from gen as nn.Linear would
    (U(-1/sqrt(D), 1/sqrt(D)) for weights and biases, g = row norms of V).
    """

    def __init__(self, dims, clusters, *, gamma, inner_steps, inner_lr, outer_lr, warm_start,
                 impl="authors", dtype=torch.float32, gen=None, init=None):
        if impl not in IMPLS:
            raise ValueError(f"impl {impl!r} is not one of {IMPLS}")
        self.impl = impl
        self.dims, self.C = list(dims), clusters
        self.gamma, self.M, self.warm_start = gamma, inner_steps, warm_start
        self.gen = gen
        self.dtype = dtype
        if init is None:
            V, b = [], []
            for d in self.dims:
                V.append(self._uniform((clusters, d), d))
                b.append(self._uniform((clusters,), d))
            g = [v.norm(dim=1) for v in V]
        else:
            V, g, b = ([torch.as_tensor(np.asarray(x), dtype=dtype) for x in init[k]] for k in ("V", "g", "b"))
        self.V = [v.clone().requires_grad_(True) for v in V]
        self.g = [x.clone().requires_grad_(True) for x in g]
        self.b = [x.clone().requires_grad_(True) for x in b]
        self.outer_opt = torch.optim.Adam(self.V + self.g + self.b, lr=outer_lr, betas=BETAS, eps=EPS)
        self.A = [torch.empty(clusters, d, dtype=dtype, requires_grad=True) for d in self.dims]
        self.c = [torch.empty(clusters, dtype=dtype, requires_grad=True) for d in self.dims]
        # One Adam over all inner parameters, as the authors' init_inner.
        self.inner_opt = torch.optim.Adam(self.A + self.c, lr=inner_lr, betas=BETAS, eps=EPS)
        self.reset_inner(None if init is None else (init["A"], init["c"]))
        self.last = {}

    def _uniform(self, shape, fan_in):
        bound = 1.0 / math.sqrt(fan_in)
        return torch.empty(shape, dtype=self.dtype).uniform_(-bound, bound, generator=self.gen)

    def reset_inner(self, init=None):
        """Cold start: fresh inner parameters (from init = (A, c) lists, or
        drawn as nn.Linear) and a fresh inner Adam (its state emptied: step 0,
        no moments, exactly what a new torch.optim.Adam starts with). Done in
        place instead of building new modules and a new optimiser each
        iteration, which is equivalent and skips the Python set-up."""
        with torch.no_grad():
            for s, d in enumerate(self.dims):
                if init is None:
                    bound = 1.0 / math.sqrt(d)
                    self.A[s].uniform_(-bound, bound, generator=self.gen)
                    self.c[s].uniform_(-bound, bound, generator=self.gen)
                else:
                    self.A[s].copy_(torch.as_tensor(np.asarray(init[0][s]), dtype=self.dtype))
                    self.c[s].copy_(torch.as_tensor(np.asarray(init[1][s]), dtype=self.dtype))
        self.inner_opt.state.clear()

    def weights(self):
        """W_s = g_s V_s / ||V_s||_row: weight_norm(nn.Linear, dim=0) written out."""
        return [g[:, None] * (V / V.norm(dim=1, keepdim=True)) for V, g in zip(self.V, self.g)]

    def task_encoding(self, Zs):
        """tau [B, C] and the per-space softmaxes p_s."""
        p = [F.softmax(F.linear(z, w, b), dim=1) for z, w, b in zip(Zs, self.weights(), self.b)]
        tau = p[0] if len(p) == 1 else _total(p) / len(p)
        return tau, p

    def iteration(self, Zs, inner_init=None, record=None):
        """One outer iteration on the batch Zs (list per space of [B, D_s]).

        inner_init: the cold start's inner parameters (A, c) (None: drawn
        from gen); record: a dict to fill with everything the golden file
        holds (only for the check: it reads values back)."""
        if not self.warm_start:
            # drawn before step 1 so that "tuned" can fuse the first inner
            # forward with the task encoder's (it changes no draw)
            self.reset_inner(inner_init)
        if record is not None:
            record["inner_init_A"] = [a.detach().clone() for a in self.A]
            record["inner_init_c"] = [c.detach().clone() for c in self.c]
            record["inner_losses"] = []
        if self.impl == "tuned":
            outer, pred_error, ent_sum, ce, ent = self._tuned(Zs, record)
        else:
            outer, pred_error, ent_sum, ce, ent = self._authors(Zs, record)
        self.outer_opt.zero_grad(set_to_none=True)
        outer.backward()
        if record is not None:
            record.update(inner_A=[a.detach().clone() for a in self.A], inner_c=[c.detach().clone() for c in self.c],
                          outer_loss=outer.item(), pred_error=pred_error.item(), entropy_sum=ent_sum.item(),
                          pred_error_per_space=[x.item() for x in ce], entropy_per_space=[x.item() for x in ent],
                          grad_V=[v.grad.clone() for v in self.V], grad_g=[x.grad.clone() for x in self.g],
                          grad_b=[x.grad.clone() for x in self.b])
        # 4. one Adam step on theta
        self.outer_opt.step()
        # kept as tensors: reading them back (.item()) every iteration
        # would add nothing on the CPU but is left to the caller
        self.last = {"outer": outer.detach(), "pred_error": pred_error.detach(), "entropy": ent_sum.detach()}
        return self.last

    def _authors(self, Zs, record):
        """Steps 1-3 as the authors' run_turtle.py writes them: rows are
        samples, F.cross_entropy with probability targets, autograd in the
        inner loop. Returns the outer loss and its parts."""
        # 1. labelling of the batch; its graph is kept for the outer loss
        # (the authors reuse it too), so the task encoder runs forward once
        tau, p = self.task_encoding(Zs)
        if record is not None:
            record["tau_batch"] = tau.detach().clone()
        # 2. inner fit on tau held constant
        target = tau.detach()
        for _ in range(self.M):
            loss = _total([F.cross_entropy(F.linear(z, a, c), target) for z, a, c in zip(Zs, self.A, self.c)])
            if record is not None:
                record["inner_losses"].append(loss.item())
            self.inner_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.inner_opt.step()
        # 3. outer loss, fitted inner classifiers constant: their logits
        # need no graph
        with torch.no_grad():
            u = [F.linear(z, a, c) for z, a, c in zip(Zs, self.A, self.c)]
        ce = [F.cross_entropy(us, tau) for us in u]
        ent = [torch.special.entr(ps.mean(dim=0)).sum() for ps in p]
        pred_error, ent_sum = _total(ce), _total(ent)
        return pred_error - self.gamma * ent_sum, pred_error, ent_sum, ce, ent

    def _tuned(self, Zs, record):
        """Steps 1-3 computed in class-major layout ([C, B]: a softmax over
        the C classes of a column is then vectorised across the B samples,
        about 7x faster here than over rows of 10), the task encoder's
        forward fused with the first inner forward, and the inner gradient
        of CE written out instead of autograd. Same values as _authors up
        to rounding (the golden check runs both)."""
        B = Zs[0].shape[0]
        # 1. labelling of the batch, and the first inner logits
        pT, u0 = [], []
        for z, w, b, a, c in zip(Zs, self.weights(), self.b, self.A, self.c):
            logits, u = _FusedLinearT.apply(z, w, b, a.detach(), c.detach())
            pT.append(F.softmax(logits, dim=0))
            u0.append(u)
        tauT = pT[0] if len(pT) == 1 else _total(pT) / len(pT)  # [C, B]
        if record is not None:
            record["tau_batch"] = tauT.detach().t().clone()
        # 2. inner fit, tau constant: dCE/du = (softmax(u) sum_c t_c - t) / B
        # (what log_softmax's backward computes), dA = du Z, dc = sum du
        target = tauT.detach()
        with torch.no_grad():
            tsum = target.sum(dim=0, keepdim=True)
            for k in range(self.M):
                losses = []
                for s, (z, a, c) in enumerate(zip(Zs, self.A, self.c)):
                    u = u0[s] if k == 0 else torch.addmm(c[:, None], a, z.t())
                    if record is not None:
                        losses.append(-(target * F.log_softmax(u, dim=0)).sum() / B)
                    du = F.softmax(u, dim=0).mul_(tsum).sub_(target).div_(B)
                    a.grad = du.mm(z)
                    c.grad = du.sum(dim=1)
                if record is not None:
                    record["inner_losses"].append(_total(losses).item())
                self.inner_opt.step()
            # 3. outer loss, fitted inner classifiers constant
            uT = [torch.addmm(c[:, None], a, z.t()) for z, a, c in zip(Zs, self.A, self.c)]
        ce = [-(tauT * F.log_softmax(u, dim=0)).sum() / B for u in uT]
        ent = [torch.special.entr(p.mean(dim=1)).sum() for p in pT]
        pred_error, ent_sum = _total(ce), _total(ent)
        return pred_error - self.gamma * ent_sum, pred_error, ent_sum, ce, ent

    @torch.no_grad()
    def assign(self, Zs, chunk=65536):
        """tau on all rows (in chunks) and its argmax: the clusters."""
        taus = []
        for lo in range(0, Zs[0].shape[0], chunk):
            taus.append(self.task_encoding([z[lo:lo + chunk] for z in Zs])[0])
        tau = torch.cat(taus)
        return tau, tau.argmax(dim=1)


# ---------------------------------------------------------------- ACC


def _hungarian_min(cost):
    """Minimum-cost perfect assignment of a square matrix (list of lists):
    the O(n^3) Hungarian algorithm with potentials; returns col of each row.
    Used only where scipy is missing."""
    n = len(cost)
    INF = float("inf")
    u, v = [0.0] * (n + 1), [0.0] * (n + 1)
    p, way = [0] * (n + 1), [0] * (n + 1)
    for i in range(1, n + 1):
        p[0], j0 = i, 0
        minv, used = [INF] * (n + 1), [False] * (n + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = p[j0], INF, 0
            for j in range(1, n + 1):
                if not used[j]:
                    cur = cost[i0 - 1][j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(n + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    col = [0] * n
    for j in range(1, n + 1):
        if p[j]:
            col[p[j] - 1] = j - 1
    return col


def cluster_acc(pred, labels):
    """One-to-one (Hungarian) accuracy of clusters pred against labels."""
    pred, labels = np.asarray(pred, dtype=np.int64), np.asarray(labels, dtype=np.int64)
    keep = labels >= 0
    pred, labels = pred[keep], labels[keep]
    n = int(max(pred.max(), labels.max())) + 1
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (pred, labels), 1)
    try:
        from scipy.optimize import linear_sum_assignment
        rows, cols = linear_sum_assignment(-counts)
        matched = counts[rows, cols].sum()
    except ImportError:
        col = _hungarian_min((-counts).tolist())
        matched = sum(counts[i, col[i]] for i in range(n))
    return float(matched) / len(pred)


# ---------------------------------------------------------------- golden check


def check_golden(path, tol=1e-10, impls=IMPLS):
    """Runs Turtle.iteration in float64 on the golden file's inputs (iter1,
    then iter2 cold and warm), for each impl, and asserts every stored
    value to tol: |got - golden| <= tol * max(1, |golden|) per element,
    Adam step counts and the assignment exactly."""
    torch.set_default_dtype(torch.float64)
    with open(path) as f:
        d = json.load(f)
    Z = [torch.tensor(z, dtype=torch.float64) for z in d["Z"]]
    perm = torch.tensor(d["perm"])
    B = d["B"]
    batches = [perm[:B], perm[B:2 * B]]
    worst = {}

    def close(name, got, want):
        got = np.asarray(got.tolist() if torch.is_tensor(got) else got, dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        if got.shape != want.shape:
            raise AssertionError(f"{name}: shape {got.shape}, golden {want.shape}")
        err = float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want)))) if want.size else 0.0
        field = re.sub(r"\[\d+\]", "", name.split(".", 2)[2])  # tau_batch, inner_adam.A.exp_avg, ...
        worst[field] = max(worst.get(field, 0.0), err)
        if not err <= tol:
            raise AssertionError(f"{name}: max error {err:.3e} > {tol:g}")

    def adam(name, opt, params, want):
        for s, (prm, w) in enumerate(zip(params, want)):
            st = opt.state[prm]
            step = st["step"].item() if torch.is_tensor(st["step"]) else st["step"]
            if int(step) != w["step"]:
                raise AssertionError(f"{name}[{s}].step: {step}, golden {w['step']}")
            close(f"{name}[{s}].exp_avg", st["exp_avg"], w["exp_avg"])
            close(f"{name}[{s}].exp_avg_sq", st["exp_avg_sq"], w["exp_avg_sq"])

    def compare(tag, model, rec, want):
        for key in ("tau_batch", "inner_losses", "outer_loss", "pred_error", "entropy_sum",
                    "pred_error_per_space", "entropy_per_space"):
            close(f"{tag}.{key}", rec[key], want[key])
        for key in ("inner_init_A", "inner_init_c", "inner_A", "inner_c", "grad_V", "grad_g", "grad_b"):
            for s, x in enumerate(rec[key]):
                close(f"{tag}.{key}[{s}]", x, want[key][s])
        for key, params in (("V_after", model.V), ("g_after", model.g), ("b_after", model.b)):
            for s, x in enumerate(params):
                close(f"{tag}.{key}[{s}]", x.detach(), want[key][s])
        adam(f"{tag}.inner_adam.A", model.inner_opt, model.A, want["inner_adam"]["A"])
        adam(f"{tag}.inner_adam.c", model.inner_opt, model.c, want["inner_adam"]["c"])
        for k, params in (("V", model.V), ("g", model.g), ("b", model.b)):
            adam(f"{tag}.outer_adam.{k}", model.outer_opt, params, want["outer_adam"][k])

    report = []
    for impl, case, mode in ((i, c, m) for i in impls for c in d["cases"] for m in ("cold", "warm")):
        init = {"V": d["V_init"], "g": d["g_init"], "b": d["b_init"],
                "A": d["inner_init_iter1"]["A"], "c": d["inner_init_iter1"]["c"]}
        model = Turtle(d["dims"], d["C"], gamma=case["gamma"], inner_steps=d["M"], inner_lr=case["inner_lr"],
                       outer_lr=case["outer_lr"], warm_start=(mode == "warm"), impl=impl, dtype=torch.float64,
                       init=init)
        for it, batch in enumerate(batches):
            Zs = [z.index_select(0, batch) for z in Z]
            rec = {}
            inner_init = None
            if mode == "cold":
                src = d["inner_init_iter1"] if it == 0 else d["inner_init_iter2_cold"]
                inner_init = (src["A"], src["c"])
            model.iteration(Zs, inner_init=inner_init, record=rec)
            tag = f"{impl}:{case['name']}" + (".iter1" if it == 0 else ".iter2_" + mode)
            want = case["iter1"] if it == 0 else case["iter2_" + mode]
            if batch.tolist() != want["batch"]:
                raise AssertionError(f"{tag}: batch differs from the golden one")
            compare(tag, model, rec, want)
            if tag not in report:
                report.append(tag)
        tau_all, assignment = model.assign(Z)
        close(f"{tag}.tau_all", tau_all, want["tau_all"])
        if assignment.tolist() != want["assignment"]:
            raise AssertionError(f"{tag}.assignment differs")
    torch.set_default_dtype(torch.float32)
    return {"golden": path, "tolerance": tol, "checked": report,
            "max_error_by_field": {k: float("%.3g" % v) for k, v in sorted(worst.items())}}


# ---------------------------------------------------------------- benchmark


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--features", nargs="+", metavar="NPY", help="train embeddings, one .npy [N, D_s] per space")
    p.add_argument("--labels", help="train labels .npy [N] (for ACC; -1 = unknown)")
    p.add_argument("--test", nargs="+", metavar="NPY", help="test embeddings, one .npy per space, same order")
    p.add_argument("--test-labels", help="test labels .npy")
    p.add_argument("--clusters", type=int, default=10, help="C")
    p.add_argument("--iterations", type=int, default=6000, help="outer iterations T")
    p.add_argument("--batch-size", type=int, default=10000, help="B (N if larger)")
    p.add_argument("--inner-steps", type=int, default=10, help="M")
    p.add_argument("--gamma", type=float, default=10.0)
    p.add_argument("--inner-lr", type=float, default=1e-3)
    p.add_argument("--outer-lr", type=float, default=1e-3)
    p.add_argument("--warm-start", action="store_true", help="keep the inner classifiers and their Adam across iterations")
    p.add_argument("--impl", choices=IMPLS, default="tuned",
                   help="authors: the authors' formulation (autograd through F.cross_entropy in the inner loop); "
                        "tuned: the same iteration with the inner gradient written out and the task encoder's "
                        "forward fused with the first inner forward (default; a few %% faster)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op (OpenMP) threads: torch.set_num_threads")
    p.add_argument("--blas-threads", type=int, default=0,
                   help="the BLAS's (OpenBLAS's) thread pool, set through OPENBLAS_NUM_THREADS before torch loads; 0 = --threads")
    p.add_argument("--warmup", type=int, default=2, help="iterations left out of the median")
    p.add_argument("--eval-every", type=int, default=0,
                   help="assign the test split every K iterations, as the authors' loop does with K = 20 (timed with the iteration); 0 = never")
    p.add_argument("--out", help="write the train assignment here (.npy int32)")
    p.add_argument("--check-golden", metavar="JSON", help="instead of a run, check the iteration against turtle_golden.json")
    args = p.parse_args(argv)
    if args.check_golden:
        return args
    if not args.features:
        p.error("--features is required (or --check-golden)")
    for name in ("clusters", "iterations", "batch_size", "threads"):
        if getattr(args, name) < 1:
            p.error("--%s must be at least 1" % name.replace("_", "-"))
    if args.inner_steps < 0 or args.warmup < 0 or args.eval_every < 0 or args.blas_threads < 0:
        p.error("--inner-steps, --warmup, --eval-every and --blas-threads must be >= 0")
    if args.test and len(args.test) != len(args.features):
        p.error("--test needs one file per --features space (%d)" % len(args.features))
    return args


def load_spaces(paths):
    Zs = [torch.from_numpy(np.ascontiguousarray(np.load(p), dtype=np.float32)) for p in paths]
    for p, z in zip(paths, Zs):
        if z.dim() != 2 or z.shape[0] != Zs[0].shape[0]:
            raise SystemExit(f"turtle_torch: {p} has shape {tuple(z.shape)}; every space needs [N, D] with the same N")
    return Zs


def main(argv):
    args = parse_args(argv)
    if args.check_golden:
        out = check_golden(args.check_golden)
        print(json.dumps(out))
        print(f"golden check passed: {len(out['checked'])} iteration sequences agree to {out['tolerance']:g}",
              file=sys.stderr)
        return
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    Z = load_spaces(args.features)
    Zt = load_spaces(args.test) if args.test else None
    n = Z[0].shape[0]
    batch = min(args.batch_size, n)
    gen = torch.Generator().manual_seed(args.seed)
    model = Turtle([z.shape[1] for z in Z], args.clusters, gamma=args.gamma, inner_steps=args.inner_steps,
                   inner_lr=args.inner_lr, outer_lr=args.outer_lr, warm_start=args.warm_start, impl=args.impl,
                   gen=gen)
    t_loaded = time.perf_counter()

    wall, cpu = [], []
    for it in range(args.iterations):
        w0, c0 = time.perf_counter(), time.process_time()
        idx = torch.randperm(n, generator=gen)[:batch]  # without replacement
        model.iteration([z.index_select(0, idx) for z in Z])
        if args.eval_every and Zt is not None and (it + 1) % args.eval_every == 0:
            model.assign(Zt)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    t_fit = time.perf_counter()

    _, train_pred = model.assign(Z)
    res = {}
    if Zt is not None:
        _, test_pred = model.assign(Zt)
    t_assign = time.perf_counter()
    timed = wall[args.warmup:] or wall
    timed_cpu = cpu[args.warmup:] or cpu
    last = {k: v.item() for k, v in model.last.items()}
    res.update({
        "ms_per_iter": 1e3 * float(np.median(timed)),
        "ms_per_iter_mean": 1e3 * float(np.mean(timed)),
        "warmup_s": float(np.sum(wall[:args.warmup])) if len(wall) > args.warmup else 0.0,
        "cpu_ms_per_iter": 1e3 * float(np.median(timed_cpu)),
        "busy_threads": float(np.sum(timed_cpu) / np.sum(timed)),
        "iterations": args.iterations, "iterations_timed": len(timed),
        "fit_s": t_fit - t_loaded, "load_s": t_loaded - t_start, "assign_s": t_assign - t_fit,
        "total_s": t_assign - t_start,
        "final_loss": last["outer"], "final_pred_error": last["pred_error"], "final_entropy": last["entropy"],
        "clusters_used": int(train_pred.unique().numel()),
        "n": n, "dims": [z.shape[1] for z in Z], "batch_size": batch, "inner_steps": args.inner_steps,
        "gamma": args.gamma, "warm_start": args.warm_start, "seed": args.seed, "impl": args.impl,
        "threads": args.threads, "blas_threads": args.blas_threads or args.threads,
        "torch": torch.__version__,
    })
    if args.labels:
        res["train_acc"] = cluster_acc(train_pred.numpy(), np.load(args.labels))
    if Zt is not None:
        res["test_clusters_used"] = int(test_pred.unique().numel())
        if args.test_labels:
            res["test_acc"] = cluster_acc(test_pred.numpy(), np.load(args.test_labels))
    if args.out:
        np.save(args.out, train_pred.numpy().astype(np.int32))
    print(json.dumps(res))


if __name__ == "__main__":
    main(sys.argv[1:])
