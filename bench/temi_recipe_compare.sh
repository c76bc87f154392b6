#!/usr/bin/env bash
# TEMI training at the two recipes of issue 16, clusterlab against the
# fastest PyTorch we can write, with this machine's fp32 GEMM peak and the
# FLOP count of a step, side by side in one run:
#
#   mnist      MNIST raw pixels: D 784, K 10, B 256, N 60,000 (234 steps an epoch)
#   cifar100   D 768 (ViT-B), K 100, N 50,000, B 256 (195 steps) and 1024 (48 steps)
#   both       H 16, hidden 512, bottleneck 256; synthetic random embeddings
#              and a random k-NN table (the time does not depend on the values)
#
# Contenders (bench/temi_torch_fast.py, whose losses pass the float64
# golden check first; bench/temi_recipe_run for clusterlab):
#   go-onnx           clusterlab's epoch benchmark (trainbench.NewEpochBench,
#                     the code Fit runs), onnx backend, built as `make build`
#                     builds (tags onnx dnnl: the first layer's products in
#                     oneDNN), OMP_WAIT_POLICY=passive as the runner sets for
#                     its plugins; precision fp32 and bf16
#   torch-authors     the authors' formulation (per-head ModuleList loop, ...)
#   torch-tuned       batched feature-major heads, foreach AdamW/EMA, ...
#   each torch one at torch.set_num_threads T x OPENBLAS_NUM_THREADS O,
#   T, O in TORCH_THREADS x BLAS_THREADS (default "1 2" x "1 2")
#   torch-tuned-bf16  the tuned form under torch.autocast(bfloat16) (its
#                     products in oneDNN, AMX here), torch T threads, BLAS 2
# All contenders of a recipe run one after another within a round, in an
# order that alternates between rounds. Times per step are medians of the
# STEPS timed steps (after WARMUP untimed); the epoch is extrapolated
# (pair drawing + N/B x the median step). The table gives the median over
# ROUNDS, GFLOP/s of the step's matrix products, and their share of the
# GEMM bound: the step's products timed alone at the best fp32 rate numpy,
# torch or oneDNN (the first layer's two shapes) reached on each of their
# shapes (any thread setting).
#
#   bench/temi_recipe_compare.sh                          # 2 rounds, 12 steps, all recipes
#   RECIPES="mnist" ROUNDS=1 bench/temi_recipe_compare.sh
#   FULL_EPOCH=1 bench/temi_recipe_compare.sh            # also one whole MNIST epoch: go default vs fastest torch
#
# Needs Go, the ONNX Runtime library of `make setup`, Debian's PyTorch.
set -euo pipefail

ROUNDS=${ROUNDS:-2}
STEPS=${STEPS:-12}
WARMUP=${WARMUP:-3}
RECIPES=${RECIPES:-"mnist:256 cifar100:256 cifar100:1024"}
TORCH_THREADS=${TORCH_THREADS:-"1 2"}
BLAS_THREADS=${BLAS_THREADS:-"1 2"}
VARIANTS=${VARIANTS:-"authors tuned"}
FULL_EPOCH=${FULL_EPOCH:-0}
. "$(dirname "$0")/lib.sh"
bench_setup temi_recipe_compare torch python3-torch
T=bench/temi_torch_fast.py

echo "checking the PyTorch losses against the golden file" >&2
"$PY" $T golden losses/losstest/testdata/temi_golden.json >&2
echo "building bench/temi_recipe_run (go build -tags 'onnx dnnl')" >&2
go build -tags 'onnx dnnl' -o "$tmp/temi_recipe_run" ./bench/temi_recipe_run

results=$tmp/results.jsonl
: >"$results"

# emit JSON_LINE KEY=VALUE...: the line with the keys added, to $results.
emit() {
    local line=$1; shift
    "$PY" -c 'import json, sys
r = json.loads(sys.argv[1])
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    r[k] = v
print(json.dumps(r))' "$line" "$@" >>"$results"
}

recipe_dims() { # RECIPE -> "D K N"
    case $1 in mnist) echo "784 10 60000" ;; cifar100) echo "768 100 50000" ;; esac
}

run_go() { # RECIPE B PRECISION(fp32|bf16) STEPS
    local r=$1 b=$2 p=$3 s=$4 dims out
    read -r d k n <<<"$(recipe_dims "$r")"
    if ! out=$(env -u ORT_INTRA_OP_NUM_THREADS OMP_WAIT_POLICY=passive "$tmp/temi_recipe_run" -d "$d" -k "$k" -batch "$b" -rows "$n" -steps "$s" -precision "$p"); then
        echo "temi_recipe_compare: temi_recipe_run failed at $r B $b" >&2
        exit 1
    fi
    emit "$out" kind=step who=go-onnx recipe="$r" setting="$p"
}

run_torch() { # RECIPE B VARIANT(authors|tuned|tuned-bf16) T O STEPS
    local r=$1 b=$2 v=$3 t=$4 o=$5 s=$6 out bf=()
    [[ $v == *-bf16 ]] && bf=(--bf16)
    if ! out=$(OMP_WAIT_POLICY=PASSIVE "$PY" $T time --recipe "$r" --batch "$b" --variant "${v%-bf16}" "${bf[@]}" \
        --threads "$t" --blas-threads "$o" --steps "$s" --warmup "$WARMUP"); then
        echo "temi_recipe_compare: $T time --recipe $r --batch $b --variant $v failed" >&2
        exit 1
    fi
    emit "$out" kind=step who="torch-$v" setting="torch $t / blas $o"
}

run_gemm() { # RECIPE B T O
    local out
    out=$("$PY" $T gemm --recipe "$1" --batch "$2" --threads "$3" --blas-threads "$4")
    emit "$out" kind=gemm recipe="$1"
}

run_gemm_dnnl() { # RECIPE B
    local out
    read -r d k n <<<"$(recipe_dims "$1")"
    out=$(OMP_WAIT_POLICY=passive "$tmp/temi_recipe_run" -gemm -d "$d" -batch "$2")
    emit "$out" kind=gemm_dnnl recipe="$1" batch="$2"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
for round in $(seq "$ROUNDS"); do
    for rb in $RECIPES; do
        r=${rb%:*} b=${rb#*:}
        jobs=("go fp32" "go bf16")
        for v in $VARIANTS; do for t in $TORCH_THREADS; do for o in $BLAS_THREADS; do
            jobs+=("torch $v $t $o")
        done; done; done
        for t in $TORCH_THREADS; do jobs+=("torch tuned-bf16 $t 2"); done
        # Alternate the order between rounds.
        if (( round % 2 == 0 )); then
            mapfile -t jobs < <(printf '%s\n' "${jobs[@]}" | tac)
        fi
        for j in "${jobs[@]}"; do
            read -r who a1 a2 a3 <<<"$j"
            echo "round $round of $ROUNDS: $r B $b: $j" >&2
            if [[ $who == go ]]; then run_go "$r" "$b" "$a1" "$STEPS"
            else run_torch "$r" "$b" "$a1" "$a2" "$a3" "$STEPS"; fi
        done
        if (( round == 1 )); then
            for t in $TORCH_THREADS; do for o in $BLAS_THREADS; do
                echo "GEMM peak: $r B $b, torch $t / blas $o" >&2
                run_gemm "$r" "$b" "$t" "$o"
            done; done
            echo "GEMM peak: $r B $b, oneDNN" >&2
            run_gemm_dnnl "$r" "$b"
        fi
    done
done
if (( FULL_EPOCH )); then
    # One whole MNIST epoch each: clusterlab (fp32, bf16) against the
    # fastest fp32 torch setting of the rounds above.
    best=$("$PY" - "$results" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    if r.get("kind") == "step" and r["recipe"] == "mnist" and r["who"].startswith("torch") and not r["who"].endswith("bf16"):
        by.setdefault((r["variant"], r["threads"], r["blas_threads"]), []).append(r["median_ms_per_step"])
v, t, o = min(by, key=lambda k: statistics.median(by[k]))
print(v, t, o)
EOF
)
    read -r v t o <<<"$best"
    echo "whole MNIST epoch: go fp32, go bf16, then torch $v $t/$o" >&2
    for p in fp32 bf16; do
        run_go mnist 256 $p 0
        sed -i '$ s/"kind": "step"/"kind": "epoch"/' "$results"
    done
    run_torch mnist 256 "$v" "$t" "$o" 0
    sed -i '$ s/"kind": "step"/"kind": "epoch"/' "$results"
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
end=$(date +%s)

echo
echo "TEMI training step/epoch at the issue-16 recipes; H 16, hidden 512, bottleneck 256; synthetic embeddings;"
echo "$STEPS timed steps after $WARMUP warm-up, epoch = pair drawing + N/B x median step; $ROUNDS round(s)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average before $load_before, after $load_after; $((end - start)) s"
echo "versions: $(go version | cut -d' ' -f3), $(dpkg-query -W -f 'oneDNN ${Version}' libdnnl2 2>/dev/null || echo 'oneDNN ?'), ONNX Runtime $(cat .deps/onnxruntime/VERSION 2>/dev/null || echo '?'), torch $("$PY" -c 'import torch; print(torch.__version__)'), numpy $("$PY" -c 'import numpy; print(numpy.__version__)')"
echo
"$PY" - "$results" "$T" <<'EOF'
import json, statistics, subprocess, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
recipes = []
for r in rows:
    if r["kind"] not in ("step", "gemm"):
        continue
    key = (r["recipe"], int(r["batch"]))
    if key not in recipes:
        recipes.append(key)

def flops(recipe, batch):
    out = subprocess.run(["/usr/bin/python3", sys.argv[2], "flops", "--recipe", recipe, "--batch", str(batch)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)

for recipe, batch in recipes:
    f = flops(recipe, batch)
    gem = [r for r in rows if r["kind"] == "gemm" and r["recipe"] == recipe and int(r["batch"]) == batch]
    best = {}
    print("### %s, B %d: %.2f GFLOP of matrix products per step (layer 1 %.2f, layer 2 %.2f, last layer %.2f), %d steps, %.2f TFLOP an epoch" % (
        recipe, batch, f["gemm_gflop_per_step"], f["parts_gflop"]["layer1"], f["parts_gflop"]["layer2"],
        f["parts_gflop"]["last_layer"], f["steps_per_epoch"], f["gemm_tflop_per_epoch"]))
    print()
    print("| GEMM shape | GFLOP | " + " | ".join("numpy t%s/b%s | torch t%s/b%s" % (g["torch_threads"], g["blas_threads"], g["torch_threads"], g["blas_threads"]) for g in gem) + " |")
    print("|---|---|" + "---|---|" * len(gem))
    for i, s in enumerate(gem[0]["gemm"] if gem else []):
        cells = []
        for g in gem:
            x = g["gemm"][i]
            cells += ["%.0f" % x["numpy_gflops"], "%.0f" % x["torch_gflops"]]
            best[x["shape"]] = max(best.get(x["shape"], 0), x["numpy_gflops"], x["torch_gflops"])
        print("| %s | %.2f | %s |" % (s["shape"], s["gflop"], " | ".join(cells)))
    # oneDNN's fp32 rates on the first layer's two products.
    for g in rows:
        if g["kind"] == "gemm_dnnl" and g["recipe"] == recipe and int(g["batch"]) == batch:
            print()
            print("%s fp32: %s" % (g["library"], ", ".join("%s %.0f GFLOP/s" % (x["shape"], x["gflops"]) for x in g["gemm"])))
            for x in g["gemm"]:
                for shape in list(best):
                    if shape.startswith(x["shape"] + " "):
                        best[shape] = max(best[shape], x["gflops"])
    # The GEMM bound: layer 1 at the better of the fwd/wgrad rates of its
    # parts (2 forwards, 1 weight gradient), layers 2 and 3 at the bmm rate.
    l1f = next(v for k, v in best.items() if k.startswith("l1_fwd"))
    l1w = next(v for k, v in best.items() if k.startswith("l1_wgrad"))
    l2 = next(v for k, v in best.items() if k.startswith("l2_fwd"))
    p = f["parts_gflop"]
    bound_s = p["layer1"] * 2 / 3 / l1f + p["layer1"] / 3 / l1w + (p["layer2"] + p["last_layer"]) / l2
    peak = f["gemm_gflop_per_step"] / bound_s
    print()
    print("GEMM bound of one step: %.0f ms (%.0f GFLOP/s effective peak over the step's shapes)" % (1000 * bound_s, peak))
    print()
    print("| contender | setting | median ms/step (per round) | s/epoch | GFLOP/s | % of fp32 GEMM peak | vs go fp32 |")
    print("|---|---|---|---|---|---|---|")
    groups = {}
    for r in rows:
        if r["kind"] != "step" or r["recipe"] != recipe or int(r["batch"]) != batch:
            continue
        ms = r["median_ms_per_step"]
        groups.setdefault((r["who"], r["setting"]), []).append((ms, float(r.get("s_per_epoch_median_step", r["s_per_epoch"]))))
    go = groups.get(("go-onnx", "fp32"))
    go_s = statistics.median(e for _, e in go) if go else None
    for (who, setting), vals in sorted(groups.items(), key=lambda kv: statistics.median(v[0] for v in kv[1])):
        ms = statistics.median(v[0] for v in vals)
        ep = statistics.median(v[1] for v in vals)
        gf = f["gemm_gflop_per_step"] / ms * 1000
        print("| %s | %s | %.0f (%s) | %.1f | %.0f | %.0f%% | %s |" % (
            who, setting, ms, ", ".join("%.0f" % v[0] for v in vals), ep, gf, 100 * gf / peak,
            "%.2fx" % (ep / go_s) if go_s else "-"))
    print()
ep = [r for r in rows if r["kind"] == "epoch"]
if ep:
    print("### One whole MNIST epoch (234 steps, every step timed)")
    print()
    print("| contender | setting | s/epoch | mean ms/step |")
    print("|---|---|---|---|")
    for r in ep:
        s = r.get("s_per_epoch_measured") or r["s_per_epoch"]
        ms = r.get("mean_ms_per_step", r.get("ms_per_step"))
        print("| %s | %s | %.1f | %.0f |" % (r["who"], r["setting"], float(s), float(ms)))
EOF
echo
echo "s/epoch ratio above 1: clusterlab is faster. torch t/b: torch.set_num_threads / OPENBLAS_NUM_THREADS."
