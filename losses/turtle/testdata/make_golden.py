#!/usr/bin/python3
"""Golden fixture for clusterlab's TURTLE implementation (losses/turtle).

Runs two outer TURTLE iterations, exactly as /work/shared/TURTLE.md specifies
(which follows the authors' turtle.py), in float64 on small seeded inputs,
and writes turtle_golden.json next to this script. Every random tensor the
iterations use (embeddings, batch permutation, task-encoder init, inner
classifier inits) is stored in the file, so the Go side never needs torch's
RNG. Run with Debian's python (torch 1.13):

    /usr/bin/python3 losses/turtle/testdata/make_golden.py          # write
    /usr/bin/python3 losses/turtle/testdata/make_golden.py --check  # also
        verify determinism (two runs, byte-equal JSON), Adam vs the written
        formula, and outer gradients vs gradcheck and central differences.

The weight norm is written out (W = g[:,None] * V / ||V||_row) instead of
torch.nn.utils.weight_norm so that the convention is explicit: one gain per
cluster, norm over D_s. (weight_norm(nn.Linear, dim=0) is the same thing; the
--check run asserts so.)
"""
import copy
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
torch.use_deterministic_algorithms(True)

SEED = 20240601
S_DIMS = [12, 7]
N = 40
C = 4
B = 16
M = 3
BETAS = (0.9, 0.999)
EPS = 1e-8
CASES = [
    {"name": "gamma10_lr1e-3", "gamma": 10.0, "inner_lr": 1e-3, "outer_lr": 1e-3},
    {"name": "gamma1_lr1e-3", "gamma": 1.0, "inner_lr": 1e-3, "outer_lr": 1e-3},
    {"name": "gamma10_lr5e-2", "gamma": 10.0, "inner_lr": 0.05, "outer_lr": 0.05},
]

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "turtle_golden.json")


def uniform(gen, shape, bound):
    return (torch.rand(shape, generator=gen) * 2.0 - 1.0) * bound


def make_inputs():
    gen = torch.Generator().manual_seed(SEED)
    Z = [torch.randn(N, d, generator=gen) for d in S_DIMS]
    perm = torch.randperm(N, generator=gen)
    V, b = [], []
    for d in S_DIMS:
        bound = 1.0 / math.sqrt(d)
        V.append(uniform(gen, (C, d), bound))
        b.append(uniform(gen, (C,), bound))
    g = [v.norm(dim=1) for v in V]

    def inner_init():
        A, c = [], []
        for d in S_DIMS:
            bound = 1.0 / math.sqrt(d)
            A.append(uniform(gen, (C, d), bound))
            c.append(uniform(gen, (C,), bound))
        return A, c

    inner1 = inner_init()
    inner2 = inner_init()
    return {"Z": Z, "perm": perm, "V": V, "g": g, "b": b,
            "inner_init_iter1": inner1, "inner_init_iter2_cold": inner2}


def weight(V, g):
    return g[:, None] * V / V.norm(dim=1, keepdim=True)


def task_probs(Zs, V, g, b):
    return [F.softmax(z @ weight(v, gg).T + bb, dim=1) for z, v, gg, bb in zip(Zs, V, g, b)]


def soft_ce(u, t):
    # CE(u, t) = mean over rows of -sum_c t_c log_softmax(u)_c; equals
    # F.cross_entropy(u, t) with probability targets (torch >= 1.10).
    return -(t * F.log_softmax(u, dim=1)).sum(dim=1).mean()


def entropy(q):
    return -(q * torch.log(q)).sum()


def outer_loss(Zs, V, g, b, A, c, gamma):
    p = task_probs(Zs, V, g, b)
    tau = torch.stack(p).mean(0)
    ce = [soft_ce((z @ a.T + cc).detach(), tau) for z, a, cc in zip(Zs, A, c)]
    ent = [entropy(ps.mean(0)) for ps in p]
    pred_error = sum(ce)
    ent_sum = sum(ent)
    return pred_error - gamma * ent_sum, pred_error, ent_sum, ce, ent, tau, p


def lst(t):
    return t.detach().tolist()


def adam_state(opt, params):
    out = []
    for p in params:
        st = opt.state[p]
        out.append({"step": int(st["step"].item()) if torch.is_tensor(st["step"]) else int(st["step"]),
                    "exp_avg": lst(st["exp_avg"]), "exp_avg_sq": lst(st["exp_avg_sq"])})
    return out


def outer_iteration(inp, batch, theta, outer_opt, inner, inner_opt, case):
    """One TURTLE outer iteration. theta = (V, g, b) lists of leaf tensors;
    inner = (A, c) lists of leaf tensors with inner_opt their Adam."""
    V, g, b = theta
    A, c = inner
    Zs = [z[batch] for z in inp["Z"]]
    rec = {"batch": batch.tolist()}
    # 1. labelling of the batch (before any update this iteration)
    p = task_probs(Zs, V, g, b)
    tau = torch.stack(p).mean(0)
    rec["tau_batch"] = lst(tau)
    rec["inner_init_A"] = [lst(a) for a in A]
    rec["inner_init_c"] = [lst(cc) for cc in c]
    # 2. inner fit, tau held constant
    tau_d = tau.detach()
    inner_losses = []
    for _ in range(M):
        inner_opt.zero_grad()
        loss = sum(soft_ce(z @ a.T + cc, tau_d) for z, a, cc in zip(Zs, A, c))
        inner_losses.append(loss.item())
        loss.backward()
        inner_opt.step()
    rec["inner_losses"] = inner_losses
    rec["inner_A"] = [lst(a) for a in A]
    rec["inner_c"] = [lst(cc) for cc in c]
    rec["inner_adam"] = {"A": adam_state(inner_opt, A), "c": adam_state(inner_opt, c)}
    # 3. outer loss with the fitted inner classifiers constant
    outer_opt.zero_grad()
    L, pred_error, ent_sum, ce, ent, _, _ = outer_loss(Zs, V, g, b, A, c, case["gamma"])
    L.backward()
    rec["outer_loss"] = L.item()
    rec["pred_error"] = pred_error.item()
    rec["pred_error_per_space"] = [x.item() for x in ce]
    rec["entropy_sum"] = ent_sum.item()
    rec["entropy_per_space"] = [x.item() for x in ent]
    rec["grad_V"] = [lst(v.grad) for v in V]
    rec["grad_g"] = [lst(gg.grad) for gg in g]
    rec["grad_b"] = [lst(bb.grad) for bb in b]
    # 4. one Adam step on theta
    outer_opt.step()
    rec["V_after"] = [lst(v) for v in V]
    rec["g_after"] = [lst(gg) for gg in g]
    rec["b_after"] = [lst(bb) for bb in b]
    rec["outer_adam"] = {"V": adam_state(outer_opt, V), "g": adam_state(outer_opt, g),
                         "b": adam_state(outer_opt, b)}
    return rec


def leaves(ts):
    return [t.clone().detach().requires_grad_(True) for t in ts]


def new_inner(init, lr):
    A, c = leaves(init[0]), leaves(init[1])
    # one Adam over all inner parameters, as the authors' init_inner does
    opt = torch.optim.Adam(A + c, lr=lr, betas=BETAS, eps=EPS, weight_decay=0.0)
    return (A, c), opt


def run_case(inp, case):
    perm = inp["perm"]
    batch1, batch2 = perm[:B], perm[B:2 * B]
    V, g, b = leaves(inp["V"]), leaves(inp["g"]), leaves(inp["b"])
    outer_opt = torch.optim.Adam(V + g + b, lr=case["outer_lr"], betas=BETAS, eps=EPS,
                                 weight_decay=0.0)
    inner, inner_opt = new_inner(inp["inner_init_iter1"], case["inner_lr"])
    it1 = outer_iteration(inp, batch1, (V, g, b), outer_opt, inner, inner_opt, case)
    # snapshot of everything after iteration 1, to branch cold / warm
    theta_snap = [[t.detach().clone() for t in ts] for ts in (V, g, b)]
    outer_state_snap = copy.deepcopy(outer_opt.state_dict())
    inner_snap = [[t.detach().clone() for t in ts] for ts in inner]
    inner_state_snap = copy.deepcopy(inner_opt.state_dict())

    res = {"name": case["name"], "gamma": case["gamma"], "inner_lr": case["inner_lr"],
           "outer_lr": case["outer_lr"], "iter1": it1}
    for mode in ("cold", "warm"):
        V2, g2, b2 = (leaves(ts) for ts in theta_snap)
        oopt = torch.optim.Adam(V2 + g2 + b2, lr=case["outer_lr"], betas=BETAS, eps=EPS,
                                weight_decay=0.0)
        oopt.load_state_dict(copy.deepcopy(outer_state_snap))
        if mode == "cold":
            inner2, iopt = new_inner(inp["inner_init_iter2_cold"], case["inner_lr"])
        else:
            inner2, iopt = new_inner(inner_snap, case["inner_lr"])
            iopt.load_state_dict(copy.deepcopy(inner_state_snap))
        it2 = outer_iteration(inp, batch2, (V2, g2, b2), oopt, inner2, iopt, case)
        with torch.no_grad():
            p_all = task_probs(inp["Z"], V2, g2, b2)
            tau_all = torch.stack(p_all).mean(0)
        it2["tau_all"] = lst(tau_all)
        it2["assignment"] = tau_all.argmax(dim=1).tolist()
        res["iter2_" + mode] = it2
    return res


SCHEMA = {
    "summary": ("Golden values for ONE TURTLE outer iteration and a second one in cold- and "
                "warm-start variants, computed in float64 with torch, exactly per "
                "/work/shared/TURTLE.md (the authors' turtle.py loop). All random inputs are "
                "stored; nothing needs torch's RNG. Matrices are nested row-major lists."),
    "conventions": {
        "spaces": "S = len(dims) representation spaces; lists indexed by space s have length S.",
        "task_encoder": ("logits_s = Z_s[batch] @ W_s^T + b_s, W_s = g_s[:,None] * V_s / "
                         "||V_s||_row, the norm taken per row (cluster) over D_s: one gain per "
                         "cluster. V_s [C][D_s], g_s [C], b_s [C]. (= torch weight_norm(nn.Linear, "
                         "dim=0); torch stores g as [C,1], here [C].)"),
        "tau": "tau = (1/S) sum_s softmax(logits_s) over clusters, [B][C] (or [N][C] for tau_all).",
        "inner": "u_s = Z_s[batch] @ A_s^T + c_s; A_s [C][D_s], c_s [C]. One Adam over all inner "
                 "parameters (A_1..A_S, c_1..c_S).",
        "CE": "CE(u, t) = mean over the B rows of -sum_c t_c * log_softmax(u)_c (natural log).",
        "L_inner": "sum_s CE(u_s, tau) with tau detached (constant).",
        "H": "H(q) = -sum_c q_c log q_c, natural log, q = mean over the B batch rows of p_s = "
             "softmax(logits_s).",
        "L_outer": ("sum_s CE(u_s, tau) - gamma * sum_s H(mean_rows p_s), u_s from the FITTED "
                    "inner classifiers (after the M inner steps) and held constant; gradient "
                    "flows to theta through tau (CE targets) and p_s (entropy). tau and p_s "
                    "here are recomputed from the same theta as step 1 (identical values)."),
        "Adam": ("torch.optim.Adam, betas (0.9, 0.999), eps 1e-8, weight_decay 0, amsgrad False, "
                 "per parameter element with step t starting at 1: m = b1*m + (1-b1)*grad; "
                 "v = b2*v + (1-b2)*grad^2; p -= (lr/(1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps). "
                 "Note eps is added AFTER dividing sqrt(v) by sqrt(1-b2^t) (torch's form)."),
        "iteration": ("1. tau, p_s from current theta on the batch. 2. inner fit: M Adam steps "
                      "(lr inner_lr) on L_inner. 3. L_outer, backward. 4. one Adam step (lr "
                      "outer_lr) on theta. Outer Adam state persists across iterations."),
        "cold_warm": ("iter1 starts inner params from inner_init_iter1 with a fresh inner Adam "
                      "(cold and warm are identical for the first iteration). iter2_cold "
                      "restarts from inner_init_iter2_cold with a FRESH inner Adam (step count 0). "
                      "iter2_warm keeps the inner params AND inner Adam state (m, v, step = M) "
                      "from the end of iter1, so its inner steps are Adam steps M+1..2M. "
                      "Both iter2 variants start from theta and outer Adam state after iter1 "
                      "(outer step 2, bias correction with t=2)."),
        "batches": ("batch of iter1 = perm[0:B], batch of iter2 = perm[B:2B] (row indices into "
                    "Z_s, in this order; order matters only for row order of tau_batch)."),
    },
    "top_level": {
        "torch_version": "torch.__version__ used to generate",
        "seed": "torch.Generator seed used to draw the stored inputs (informative only)",
        "dims": "[S] D_s per space",
        "N, C, B, M": "train rows, clusters, batch size, inner steps",
        "betas, eps": "Adam hyper-parameters (both optimisers)",
        "Z": "[S] of [N][D_s] embeddings (standard normal draws)",
        "perm": "[N] a permutation of 0..N-1; batches are slices of it",
        "V_init": "[S] of [C][D_s] initial V_s, uniform(-1/sqrt(D_s), 1/sqrt(D_s))",
        "g_init": "[S] of [C] initial g_s = row norms of V_init (so initial W_s = V_s)",
        "b_init": "[S] of [C] initial b_s, uniform(-1/sqrt(D_s), 1/sqrt(D_s))",
        "inner_init_iter1": "{A: [S] of [C][D_s], c: [S] of [C]} inner init for iteration 1, "
                            "uniform(-1/sqrt(D_s), 1/sqrt(D_s))",
        "inner_init_iter2_cold": "same shape, the fresh inner init used by iter2_cold",
        "cases": "list of cases; all share the inputs and inits above",
    },
    "case": {
        "name, gamma, inner_lr, outer_lr": "hyper-parameters of the case",
        "iter1, iter2_cold, iter2_warm": "iteration records (below)",
    },
    "iteration_record": {
        "batch": "[B] row indices used",
        "tau_batch": "[B][C] tau at step 1 (theta before this iteration's update)",
        "inner_init_A, inner_init_c": "[S] inner parameters at the start of the inner fit",
        "inner_losses": ("[M] L_inner evaluated at the parameters BEFORE inner step k (the value "
                         "each step differentiates); the value after the last step equals "
                         "pred_error"),
        "inner_A, inner_c": "[S] inner parameters after the M steps (used by L_outer)",
        "inner_adam": "{A: [S], c: [S]} of {step, exp_avg, exp_avg_sq} of the inner Adam after the M steps",
        "outer_loss": "L_outer (scalar)",
        "pred_error": "sum_s CE(u_s, tau) (scalar); pred_error_per_space: [S] its terms",
        "entropy_sum": "sum_s H(mean_rows p_s); entropy_per_space: [S] its terms. "
                       "outer_loss = pred_error - gamma * entropy_sum",
        "grad_V, grad_g, grad_b": "[S] d L_outer / d V_s [C][D_s], d g_s [C], d b_s [C], at theta "
                                  "before this iteration's update",
        "V_after, g_after, b_after": "[S] theta after the outer Adam step",
        "outer_adam": "{V, g, b: [S] of {step, exp_avg, exp_avg_sq}} outer Adam state after the step",
        "tau_all": "(iter2_* only) [N][C] tau on all N rows with theta after iter2",
        "assignment": "(iter2_* only) [N] argmax over clusters of tau_all (first max on ties)",
    },
}


def build():
    inp = make_inputs()
    out = {
        "schema": SCHEMA,
        "torch_version": torch.__version__,
        "seed": SEED,
        "dims": S_DIMS, "N": N, "C": C, "B": B, "M": M,
        "betas": list(BETAS), "eps": EPS,
        "Z": [lst(z) for z in inp["Z"]],
        "perm": inp["perm"].tolist(),
        "V_init": [lst(v) for v in inp["V"]],
        "g_init": [lst(g) for g in inp["g"]],
        "b_init": [lst(b) for b in inp["b"]],
        "inner_init_iter1": {"A": [lst(a) for a in inp["inner_init_iter1"][0]],
                             "c": [lst(c) for c in inp["inner_init_iter1"][1]]},
        "inner_init_iter2_cold": {"A": [lst(a) for a in inp["inner_init_iter2_cold"][0]],
                                  "c": [lst(c) for c in inp["inner_init_iter2_cold"][1]]},
        "cases": [run_case(inp, case) for case in CASES],
    }
    return inp, json.dumps(out, indent=0, sort_keys=False) + "\n"


def check(inp, text):
    # determinism: a second build must be byte-identical
    _, text2 = build()
    print("determinism: second run byte-identical:", text == text2)
    assert text == text2
    d = json.loads(text)

    # weight_norm(dim=0) normalises each row over D_s, as the explicit form does
    lin = torch.nn.Linear(S_DIMS[0], C)
    with torch.no_grad():
        lin.weight.copy_(inp["V"][0])
    wn = torch.nn.utils.weight_norm(lin, dim=0)
    with torch.no_grad():
        wn.weight_g.mul_(torch.linspace(0.5, 2.0, C)[:, None])
        ours = weight(wn.weight_v, wn.weight_g[:, 0])
        wn(torch.zeros(1, S_DIMS[0]))  # recompute weight through the hook
    print("weight_norm(dim=0) vs explicit row-wise form, max abs diff:",
          (wn.weight - ours).abs().max().item(), "g shape", tuple(wn.weight_g.shape))

    # Adam vs the written formula, on iter1 of the large-lr case
    for case in d["cases"]:
        it = case["iter1"]
        worst = 0.0
        for s in range(len(S_DIMS)):
            for name, init in (("V", d["V_init"]), ("g", d["g_init"]), ("b", d["b_init"])):
                p0 = torch.tensor(init[s])
                gr = torch.tensor(it["grad_" + name][s])
                m = (1 - BETAS[0]) * gr
                v = (1 - BETAS[1]) * gr * gr
                p1 = p0 - (case["outer_lr"] / (1 - BETAS[0])) * m / (
                    v.sqrt() / math.sqrt(1 - BETAS[1]) + EPS)
                worst = max(worst, (p1 - torch.tensor(it[name + "_after"][s])).abs().max().item())
        print(f"[{case['name']}] outer Adam step 1 vs formula, max abs diff: {worst:.3e}")

    # gradients of iteration 1 vs gradcheck and central finite differences
    batch = inp["perm"][:B]
    Zs = [z[batch] for z in inp["Z"]]
    for case in d["cases"]:
        it = case["iter1"]
        A = [torch.tensor(a) for a in it["inner_A"]]
        c = [torch.tensor(x) for x in it["inner_c"]]
        theta0 = [t.clone() for t in inp["V"] + inp["g"] + inp["b"]]
        S = len(S_DIMS)

        def f(*th):
            return outer_loss(Zs, list(th[:S]), list(th[S:2 * S]), list(th[2 * S:]), A, c,
                              case["gamma"])[0]

        ok = torch.autograd.gradcheck(f, [t.clone().requires_grad_(True) for t in theta0],
                                      eps=1e-6, atol=1e-7, rtol=1e-5)
        stored = [torch.tensor(x) for x in it["grad_V"] + it["grad_g"] + it["grad_b"]]
        h = 1e-6
        max_rel, max_abs = 0.0, 0.0
        with torch.no_grad():
            for k, t in enumerate(theta0):
                flat = t.view(-1)
                for i in range(flat.numel()):
                    old = flat[i].item()
                    flat[i] = old + h
                    fp = f(*theta0).item()
                    flat[i] = old - h
                    fm = f(*theta0).item()
                    flat[i] = old
                    fd = (fp - fm) / (2 * h)
                    an = stored[k].view(-1)[i].item()
                    err = abs(fd - an)
                    max_abs = max(max_abs, err)
                    max_rel = max(max_rel, err / max(abs(an), 1e-3))
        print(f"[{case['name']}] gradcheck: {ok}; central FD (h=1e-6) vs stored grads: "
              f"max abs err {max_abs:.3e}, max rel err {max_rel:.3e} "
              f"(rel = err / max(|grad|, 1e-3))")

    # sanity: changes visible in the large-lr case; warm differs from cold
    for case in d["cases"]:
        it1, c2, w2 = case["iter1"], case["iter2_cold"], case["iter2_warm"]
        dV = max(abs(a - b) for s in range(len(S_DIMS))
                 for ra, rb in zip(d["V_init"][s], it1["V_after"][s]) for a, b in zip(ra, rb))
        dcw = abs(c2["outer_loss"] - w2["outer_loss"])
        print(f"[{case['name']}] iter1 L_outer {it1['outer_loss']:.6f} max|dV| {dV:.3e}; "
              f"iter2 cold {c2['outer_loss']:.6f} warm {w2['outer_loss']:.6f} (|diff| {dcw:.3e}); "
              f"inner losses iter1 {['%.6f' % x for x in it1['inner_losses']]}; "
              f"assignment cold {c2['assignment']}")


def main():
    inp, text = build()
    with open(OUT, "w") as fh:
        fh.write(text)
    print(f"wrote {OUT} ({len(text)} bytes), torch {torch.__version__}")
    if "--check" in sys.argv[1:]:
        check(inp, text)


if __name__ == "__main__":
    main()
