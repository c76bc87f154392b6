#!/usr/bin/python3
"""PyTorch reference timing of ONE TEMI train step (docs/TEMI.md sections 3-8).

The step: H heads (Linear D->hidden, exact GELU, Linear hidden->bottleneck,
L2 normalisation, weight-normalised last layer without bias) run as batched
matrix products on 2B rows (B anchors, then their B k-NN partners); the EMA
teacher runs the same heads without gradient; the TEMI loss (prior update
first, head-averaged pair weight, crossed view pairs, beta-PMI) is averaged
over heads and back-propagated; AdamW (weight decay on weights, V and g,
not on biases) steps; the teacher takes its EMA update.

It times only the step: the input batches are drawn beforehand, as the Go
trainer's do not count data loading either.

    /usr/bin/python3 bench/temi_step_torch.py --threads 1
    /usr/bin/python3 bench/temi_step_torch.py --check-golden losses/losstest/testdata/temi_golden.json

prints one JSON object, e.g. {"ms_per_step": 290.1, "cpu_ms_per_step": 288.7, ...}.
"""

import argparse
import json
import math
import os
import sys
import threading
import time


def _pin_blas_threads(argv):
    """Debian's torch does its matrix products in OpenBLAS (pthreads
    build), whose own thread pool ignores torch.set_num_threads and reads
    its size from the environment when it loads: set it before torch is
    imported, so that --threads 1 really is one thread."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--threads", type=int, default=1)
    known, _ = pre.parse_known_args(argv)
    if known.threads >= 1:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(known.threads)


_pin_blas_threads(sys.argv[1:])

import torch  # noqa: E402  (after the thread pinning above)
import torch.nn.functional as F  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (intra-op threads)")
    p.add_argument("--dim", type=int, default=784, help="embedding dimension D")
    p.add_argument("--heads", type=int, default=16, help="number of heads H")
    p.add_argument("--clusters", type=int, default=10, help="clusters K")
    p.add_argument("--batch", type=int, default=256, help="pairs per batch B (2B rows)")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--bottleneck", type=int, default=256)
    p.add_argument("--steps", type=int, default=20, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check-golden", metavar="PATH",
                   help="instead of timing, check the loss function against the TEMI cases of temi_golden.json")
    args = p.parse_args(argv)
    for name in ("threads", "dim", "heads", "clusters", "batch", "hidden", "bottleneck", "steps"):
        if getattr(args, name) < 1:
            p.error("--%s must be at least 1" % name)
    if args.warmup < 0:
        p.error("--warmup must be >= 0")
    return args


def temi_loss(student, teacher, prior, student_temp, teacher_temp, beta, momentum):
    """TEMI on logits [H, 2B, K] (rows b and B+b form pair b).

    Returns the per-head losses [H], the updated prior [H, K] and the pair
    weight [B]. The prior is updated BEFORE the loss, from the 2B teacher
    rows of each head; the weight is averaged over all heads; neither
    carries a gradient.
    """
    batch = student.shape[1] // 2
    ps = F.softmax(student / student_temp, dim=-1)
    with torch.no_grad():
        pt = F.softmax(teacher / teacher_temp, dim=-1)
        prior = momentum * prior + (1 - momentum) * pt.mean(dim=1)
        weight = (pt[:, :batch] * pt[:, batch:]).sum(dim=-1).mean(dim=0)  # [B]

    def neg_pmi(p, q):  # -log sum_k (p_k q_k)^beta / pi_k, per row
        return -(((p * q) ** beta) / prior[:, None, :]).sum(dim=-1).log()

    per_head = 0.5 * ((weight * neg_pmi(ps[:, batch:], pt[:, :batch])).mean(dim=-1)
                      + (weight * neg_pmi(ps[:, :batch], pt[:, batch:])).mean(dim=-1))
    return per_head, prior, weight


class Heads(torch.nn.Module):
    """H independent heads as batched weights: one matmul for the first
    layer over all heads, batched matmuls after it."""

    def __init__(self, heads, dim, hidden, bottleneck, clusters):
        super().__init__()
        self.w1 = torch.nn.Parameter(torch.empty(dim, heads * hidden))
        self.b1 = torch.nn.Parameter(torch.zeros(heads, 1, hidden))
        self.w2 = torch.nn.Parameter(torch.empty(heads, hidden, bottleneck))
        self.b2 = torch.nn.Parameter(torch.zeros(heads, 1, bottleneck))
        self.v = torch.nn.Parameter(torch.empty(heads, clusters, bottleneck))
        self.g = torch.nn.Parameter(torch.ones(heads, clusters, 1))
        torch.nn.init.trunc_normal_(self.w1, std=0.02)
        torch.nn.init.trunc_normal_(self.w2, std=0.02)
        bound = 1 / math.sqrt(bottleneck)
        torch.nn.init.uniform_(self.v, -bound, bound)
        self.heads, self.hidden = heads, hidden

    def forward(self, x):  # x [2B, D] -> logits [H, 2B, K]
        rows = x.shape[0]
        h = (x @ self.w1).view(rows, self.heads, self.hidden).transpose(0, 1)  # [H, 2B, hidden]
        h = F.gelu(h + self.b1)  # exact (erf) GELU
        u = torch.baddbmm(self.b2, h, self.w2)  # [H, 2B, bottleneck]
        u = F.normalize(u, dim=-1)
        last = self.g * self.v / self.v.norm(dim=-1, keepdim=True)  # weight norm
        return torch.bmm(u, last.transpose(1, 2))


class Step:
    """Student, EMA teacher, prior and AdamW of one TEMI run."""

    def __init__(self, args):
        self.student = Heads(args.heads, args.dim, args.hidden, args.bottleneck, args.clusters)
        self.teacher = Heads(args.heads, args.dim, args.hidden, args.bottleneck, args.clusters)
        self.teacher.load_state_dict(self.student.state_dict())
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        s = self.student
        lr = 1e-4 * args.batch / 256  # base lr scaled by B/256 (docs/TEMI.md section 8)
        # foreach=True: torch 1.13 defaults to its per-parameter loop; the
        # multi-tensor version computes the same update and measured a few
        # percent faster here, so the reference gets the faster one.
        self.opt = torch.optim.AdamW(
            [{"params": [s.w1, s.w2, s.v, s.g], "weight_decay": 1e-4},
             {"params": [s.b1, s.b2], "weight_decay": 0.0}],
            lr=lr, betas=(0.9, 0.999), eps=1e-8, foreach=True)
        self.prior = torch.full((args.heads, args.clusters), 1 / args.clusters)
        self.momentum_teacher = 0.996
        self.student_temp, self.teacher_temp = 0.1, 0.1
        self.beta, self.probs_momentum = 0.6, 0.9
        self.s_params = list(self.student.parameters())
        self.t_params = list(self.teacher.parameters())

    def __call__(self, x):
        student_logits = self.student(x)
        with torch.no_grad():
            teacher_logits = self.teacher(x)
        per_head, self.prior, _ = temi_loss(student_logits, teacher_logits, self.prior, self.student_temp,
                                            self.teacher_temp, self.beta, self.probs_momentum)
        loss = per_head.mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            m = self.momentum_teacher
            torch._foreach_mul_(self.t_params, m)
            torch._foreach_add_(self.t_params, self.s_params, alpha=1 - m)
        return loss.item()  # synchronises, and a real trainer reads it too


class ThreadClock:
    """Per-thread CPU time and runnable-thread sampling of this process
    over the timed steps, measured exactly as core/train's StepClock does
    for the Go benchmark (so the two "threads" figures compare):
    busy_threads counts the threads on a CPU at least 10% of the wall time;
    runnable_threads is the mean number of threads in state R (running or
    waiting for a CPU) sampled every 20 ms, the sampling thread excluded.
    Without /proc (not Linux) both are None."""

    PERIOD = 0.020
    USER_HZ = 100  # unit of utime/stime in /proc/<pid>/task/<tid>/stat

    def __init__(self):
        self.ok = os.path.isdir("/proc/self/task")
        self.samples, self.total, self.max = 0, 0, 0
        self._stop = threading.Event()
        self._sampler = None

    @staticmethod
    def _fields(tid):
        """The fields of the task's stat line after "tid (comm)"."""
        with open("/proc/self/task/%s/stat" % tid, "rb") as f:
            line = f.read()
        return line[line.rindex(b")") + 1:].split()

    def _thread_cpu(self):
        out = {}
        for tid in os.listdir("/proc/self/task"):
            try:
                f = self._fields(tid)
            except (OSError, ValueError):
                continue  # the thread has exited
            out[tid] = (int(f[11]) + int(f[12])) / self.USER_HZ
        return out

    def _sample(self):
        me = str(threading.get_native_id())
        while not self._stop.wait(self.PERIOD):
            n = 0
            for tid in os.listdir("/proc/self/task"):
                if tid == me:
                    continue
                try:
                    if self._fields(tid)[0] == b"R":
                        n += 1
                except (OSError, ValueError):
                    pass
            self.samples += 1
            self.total += n
            self.max = max(self.max, n)

    def start(self):
        if self.ok:
            self.before = self._thread_cpu()
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self):
        wall, cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        res = {"wall": wall, "cpu": cpu, "busy_threads": None, "thread_load": None,
               "runnable_threads": None, "max_runnable": None}
        if not self.ok:
            return res
        self._stop.set()
        self._sampler.join()
        after = self._thread_cpu()
        loads = sorted(((c - self.before.get(t, 0.0)) / wall for t, c in after.items()), reverse=True)
        res["busy_threads"] = sum(1 for x in loads if x >= 0.1)
        res["thread_load"] = [round(x, 2) for x in loads if x >= 0.01]
        if self.samples:
            res["runnable_threads"] = round(self.total / self.samples, 2)
            res["max_runnable"] = self.max
        return res


def check_golden(path):
    """Runs temi_loss in float64 on the TEMI cases of the golden file."""
    with open(path) as f:
        cases = [c for c in json.load(f)["cases"] if c["loss"] == "TEMI"]
    if not cases:
        raise SystemExit("%s holds no TEMI case" % path)
    worst = 0.0
    for c in cases:
        p = c["params"]
        prior = torch.tensor(c["pk_initial"], dtype=torch.float64)
        for call in c["calls"]:
            s = torch.tensor(call["student_logits"], dtype=torch.float64, requires_grad=True)
            t = torch.tensor(call["teacher_logits"], dtype=torch.float64)
            per_head, prior, weight = temi_loss(s, t, prior, p["student_temp"], p["teacher_temp"],
                                                p["beta"], p["probs_momentum"])
            per_head.mean().backward()
            for got, key in ((per_head, "head_losses"), (prior, "pk_after"), (weight, "weight"),
                             (s.grad, "grad_student_logits")):
                err = (got.detach() - torch.tensor(call[key], dtype=torch.float64)).abs().max().item()
                worst = max(worst, err)
                if err > 1e-10:
                    raise SystemExit("%s %s: max error %.3g against the golden file" % (c["name"], key, err))
    return {"golden": path, "cases": len(cases), "max_abs_error": worst}


def main(argv):
    args = parse_args(argv)
    if args.check_golden:
        print(json.dumps(check_golden(args.check_golden)))
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    step = Step(args)
    # A few distinct batches, drawn before timing; rows 0..B-1 are the
    # anchors, rows B..2B-1 their partners.
    batches = [torch.randn(2 * args.batch, args.dim) for _ in range(4)]
    for i in range(args.warmup):
        step(batches[i % len(batches)])
    clock = ThreadClock()
    clock.start()
    loss = float("nan")
    for i in range(args.steps):
        loss = step(batches[i % len(batches)])
    t = clock.stop()
    if not math.isfinite(loss):
        raise SystemExit("non-finite loss %r" % loss)
    print(json.dumps({
        "ms_per_step": round(1000 * t["wall"] / args.steps, 3),
        # CPU time of all threads: on a machine shared with other jobs, the
        # single-thread figure to trust is the lower of the two.
        "cpu_ms_per_step": round(1000 * t["cpu"] / args.steps, 3),
        "threads": torch.get_num_threads(),
        "busy_threads": t["busy_threads"], "thread_load": t["thread_load"],
        "runnable_threads": t["runnable_threads"], "max_runnable": t["max_runnable"],
        "heads": args.heads, "dim": args.dim, "hidden": args.hidden, "bottleneck": args.bottleneck,
        "clusters": args.clusters, "batch": args.batch, "steps": args.steps, "warmup": args.warmup,
        "last_loss": loss, "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
