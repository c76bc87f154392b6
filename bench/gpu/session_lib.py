#!/usr/bin/env python3
"""Helpers of bench/gpu_session.sh (standard library only, any Python 3.8+).

    session_lib.py find-plugin                     # JSON: the JAX CUDA PJRT plugin of this Python
    session_lib.py versions                        # JSON: torch, jax, CUDA as this Python sees them
    session_lib.py collect NAME RC SECONDS TIMED_OUT STDOUT_FILE [KEY=VALUE...]
                                                   # JSON lines of a part's stdout, tagged, to stdout
    session_lib.py gotest NAME RC SECONDS TIMED_OUT LOG     # counts of a `-test.v` log
    session_lib.py gobench NAME RC SECONDS TIMED_OUT LOG [KEY=VALUE...]  # metrics of a -test.bench log
    session_lib.py summary RESULTS.jsonl           # the final table (markdown) to stdout
"""

import glob
import importlib.util
import json
import os
import re
import sys


def find_plugin():
    out = {"part": "env", "what": "plugin", "python": sys.executable, "found": False}
    for name in ("xla_cuda13", "xla_cuda12", "xla_cuda"):
        try:
            spec = importlib.util.find_spec("jax_plugins." + name)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            continue
        d = list(spec.submodule_search_locations)[0]
        cands = sorted(glob.glob(os.path.join(d, "xla_cuda_plugin.so")) + glob.glob(os.path.join(d, "*.so")))
        if not cands:
            continue
        plugin = os.path.realpath(cands[0])
        site = os.path.dirname(os.path.dirname(d))
        nvidia = os.path.join(site, "nvidia")
        libdirs = sorted(p for p in glob.glob(os.path.join(nvidia, "*", "lib")) + glob.glob(os.path.join(nvidia, "*", "*", "lib"))
                         if os.path.isdir(p))
        ptxas = sorted(glob.glob(os.path.join(nvidia, "*", "bin", "ptxas")) + glob.glob(os.path.join(nvidia, "*", "*", "bin", "ptxas")))
        out.update(found=True, module=name, plugin=plugin, plugin_dir=d, site=site,
                   nvidia=nvidia if os.path.isdir(nvidia) else None, nvidia_lib_dirs=libdirs, pip_ptxas=ptxas)
        break
    # CUDA toolkit roots XLA can take as --xla_gpu_cuda_data_dir: a folder
    # with bin/ptxas and nvvm/libdevice.
    roots = []
    for p in out.get("pip_ptxas", []) + sorted(glob.glob("/usr/local/cuda*/bin/ptxas")):
        r = os.path.dirname(os.path.dirname(p))
        if glob.glob(os.path.join(r, "nvvm", "libdevice", "libdevice*.bc")) and r not in roots:
            roots.append(r)
    out["cuda_data_dirs"] = roots
    print(json.dumps(out))


def versions():
    out = {"part": "env", "what": "python", "python": sys.executable, "python_version": sys.version.split()[0]}
    try:
        import torch
        out.update(torch=torch.__version__, torch_cuda=torch.version.cuda, torch_sees_cuda=torch.cuda.is_available())
        if torch.cuda.is_available():
            out["torch_device"] = torch.cuda.get_device_name(0)
    except Exception as e:  # noqa: BLE001 - a report, not a check
        out["torch_error"] = repr(e)
    try:
        import jax
        import jaxlib
        out.update(jax=jax.__version__, jaxlib=jaxlib.__version__)
        out["jax_devices"] = [str(d) for d in jax.devices()]
    except Exception as e:  # noqa: BLE001
        out["jax_error"] = repr(e)
    print(json.dumps(out))


def _kv(args):
    extra = {}
    for a in args:
        k, _, v = a.partition("=")
        try:
            extra[k] = json.loads(v)
        except ValueError:
            extra[k] = v
    return extra


def _base(name, rc, secs, timed_out):
    return {"name": name, "rc": int(rc), "seconds": round(float(secs), 2), "timed_out": timed_out == "1"}


def collect(name, rc, secs, timed_out, path, *kv):
    """Every JSON object (or list of objects) printed on its own line."""
    base = _base(name, rc, secs, timed_out)
    base.update(_kv(kv))
    n = 0
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        line = line.strip()
        if not line or line[0] not in "[{":
            continue
        try:
            v = json.loads(line)
        except ValueError:
            continue
        for obj in v if isinstance(v, list) else [v]:
            if isinstance(obj, dict):
                rec = dict(base)
                rec.update(obj)
                print(json.dumps(rec))
                n += 1
    if n == 0:
        rec = dict(base)
        rec["error"] = "no result line (see the part's log)"
        print(json.dumps(rec))


def gotest(name, rc, secs, timed_out, path):
    rec = _base(name, rc, secs, timed_out)
    rec["part"] = "tests"
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    xla = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    failed = []
    try:
        text = open(path, errors="replace").read()
    except OSError:
        text = ""
    for m in re.finditer(r"--- (PASS|FAIL|SKIP): (\S+)", text):
        st, test = m.group(1), m.group(2)
        counts[st] += 1
        if "xla" in test.split("/")[1:]:
            xla[st] += 1
        if st == "FAIL":
            failed.append(test)
    rec.update(passed=counts["PASS"], failed=counts["FAIL"], skipped=counts["SKIP"],
               xla_passed=xla["PASS"], xla_failed=xla["FAIL"], xla_skipped=xla["SKIP"], failed_tests=failed[:20],
               ok=int(rc) == 0 and counts["FAIL"] == 0)
    print(json.dumps(rec))


def gobench(name, rc, secs, timed_out, path, *kv):
    rec = _base(name, rc, secs, timed_out)
    rec["part"] = "go_epochs"
    rec.update(_kv(kv))
    try:
        text = open(path, errors="replace").read()
    except OSError:
        text = ""
    last = None
    for line in text.splitlines():
        m = re.match(r"^(Benchmark\S+)\s+(\d+)\s+(.*)$", line)
        if m:
            last = (m.group(1), int(m.group(2)), m.group(3))
    if last is None:
        rec["error"] = "no benchmark line (see the part's log)"
    else:
        rec["bench"], rec["iterations"] = last[0], last[1]
        f = last[2].split()
        for i in range(0, len(f) - 1, 2):
            try:
                rec[f[i + 1]] = float(f[i])
            except ValueError:
                pass
        if "s/epoch" in rec:
            rec["epochs_total_s_from_mean"] = round(rec["s/epoch"] * rec.get("epochs", last[1]), 2)
    m = re.findall(r"compile \+ first step (\S+);", text)
    if m:
        rec["compile_first_step"] = m[-1]
    print(json.dumps(rec))


def summary(path):
    recs = []
    try:
        for line in open(path):
            line = line.strip()
            if line:
                try:
                    recs.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    p = print
    p("| part | what | result | time |")
    p("|---|---|---|---|")
    for r in recs:
        part = r.get("part", "?")
        name = r.get("name", "")
        t = "%.1f s" % r["seconds"] if "seconds" in r and r.get("part") not in ("knn", "kmeans") else ""
        res = ""
        if r.get("skipped"):
            res = "SKIPPED: %s" % r["skipped"]
        elif r.get("timed_out"):
            res = "TIMED OUT (limit %s s)" % r.get("limit_s", "?")
        elif part == "env":
            keys = ("device", "driver", "gpu_memory", "what", "found", "python", "plugin", "cuda_data_dirs", "strategy", "torch", "torch_cuda", "jax", "jax_devices",
                    "xla_options_accepted", "tests_take_xla", "error", "jax_error", "torch_error")
            res = "; ".join("%s=%s" % (k, r[k]) for k in keys if k in r and r[k] not in (None, ""))
        elif part == "probe":
            res = "%s %s: %s, matmul rel err %.2g, erf %.2g, compile %.1f s, call %.1f ms%s" % (
                r.get("via"), r.get("config"), "OK" if r.get("ok") else "FAILED " + r.get("error", "")[:200],
                r.get("matmul_max_rel_err", float("nan")), r.get("erf_max_abs_err", float("nan")),
                r.get("first_call_s", float("nan")), r.get("call_ms", float("nan")),
                " (TF32-like)" if r.get("matmul_error_like_tf32") else "")
        elif part == "tests":
            res = "%s: %d passed, %d failed, %d skipped; on xla %d passed, %d failed%s" % (
                "ok" if r.get("ok") else "FAILED rc=%s" % r.get("rc"), r.get("passed", 0), r.get("failed", 0),
                r.get("skipped", 0), r.get("xla_passed", 0), r.get("xla_failed", 0),
                ("; failing: " + ", ".join(r["failed_tests"])) if r.get("failed_tests") else "")
        elif part == "go_epochs":
            if "s/epoch" in r:
                res = "%s on %s: %.3f s/epoch, %.2f ms/step, %d epochs -> %.1f s (compile + first step %s)" % (
                    r.get("bench"), r.get("backend_spec", "?"), r["s/epoch"], r.get("ms/step", float("nan")),
                    r.get("iterations", 0), r.get("epochs_total_s_from_mean", float("nan")), r.get("compile_first_step", "?"))
            else:
                res = "FAILED rc=%s: %s" % (r.get("rc"), r.get("error", ""))
        elif part == "torch_epochs":
            if "s_per_epoch" in r:
                res = "torch %s on %s (tf32 %s): %.3f s/epoch, %.2f ms/step, %d epochs in %.1f s" % (
                    r.get("torch"), r.get("device_name"), r.get("tf32"), r["s_per_epoch"], r.get("ms_per_step", float("nan")),
                    r.get("epochs", 0), r.get("total_s", float("nan")))
            else:
                res = "FAILED rc=%s: %s" % (r.get("rc"), r.get("error", ""))
        elif part == "knn":
            if "seconds" in r and "n" in r:
                res = "%s: %d query rows of %d x %d, k %d: %.1f s; full graph %s %.0f s; check %s/%s rows same set, overlap %.4f, max sim err %.2g" % (
                    r.get("backend"), r.get("query_rows", 0), r.get("n", 0), r.get("d", 0), r.get("k", 0), r["seconds"],
                    "measured" if r.get("full_graph_measured") else "extrapolated", r.get("full_graph_est_s", float("nan")),
                    r.get("checked_rows_same_set", 0), r.get("checked_rows", 0), r.get("checked_mean_overlap", float("nan")),
                    r.get("checked_max_sim_err", float("nan")))
                t = "%.1f s" % r["seconds"]
            else:
                res = "FAILED rc=%s: %s" % (r.get("rc"), r.get("error", ""))
        elif part == "kmeans":
            if "inertia" in r:
                res = "%s: %d x %d, K %d, n_init %d: %.1f s, %d Lloyd iterations, inertia %.6g, sizes %s" % (
                    r.get("backend"), r.get("n", 0), r.get("d", 0), r.get("k", 0), r.get("n_init", 0), r["seconds"],
                    r.get("lloyd_iters_all_runs", 0), r["inertia"], r.get("cluster_sizes_min_median_max"))
                t = "%.1f s" % r["seconds"]
            else:
                res = "FAILED rc=%s: %s" % (r.get("rc"), r.get("error", ""))
        else:
            res = json.dumps(r)[:300]
        p("| %s | %s | %s | %s |" % (part, name, res.replace("|", "/"), t))


def main(argv):
    if not argv:
        raise SystemExit(__doc__)
    cmd, rest = argv[0], argv[1:]
    fn = {"find-plugin": find_plugin, "versions": versions, "collect": collect, "gotest": gotest,
          "gobench": gobench, "summary": summary}.get(cmd)
    if fn is None:
        raise SystemExit(__doc__)
    fn(*rest)


if __name__ == "__main__":
    main(sys.argv[1:])
