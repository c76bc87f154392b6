#!/usr/bin/env bash
# The prepared script of a GPU session (issue 16, part 3; docs/GPU.md):
# one call on the lent NVIDIA machine measures what this project's CPU
# machine cannot, within a wall-time budget (GPU_SESSION_BUDGET_S, 480 s).
#
#   0. set-up: unpacks bin/gpu/gpu-carry.tar.xz (made here by
#      bench/gpu_prepare.sh: test binaries, gpubench, ONNX Runtime), finds
#      the JAX CUDA PJRT plugin of that machine's python3, records
#      nvidia-smi and the versions, and finds the environment under which
#      the plugin really computes (gpubench probe: a product, erf, exp,
#      tanh against float64), trying in turn: the plugin's own RPATH
#      (GOPJRT_CUDA_CHECKS=0); the nvidia pip libraries on LD_LIBRARY_PATH
#      and --xla_gpu_cuda_data_dir at a CUDA root with ptxas and libdevice;
#      the nvidia/ link of docs/GPU.md.
#   a. the backend agreement tests (losses: golden values and references,
#      gradients included; core/train: the training graph against go to
#      1e-5, and a step too large for the GPU's memory failing as out of
#      memory (TestBackendOutOfMemoryIsAnError); neighbours, k-means
#      paths) with CLUSTERLAB_TEST_BACKENDS=xla, when the test binaries
#      take that variable (see bench/gpu/README.md).
#   b. a CIFAR-100-sized TEMI training (N 50,000, D 768, H 16, K 100,
#      B 1024, 100 epochs) on xla (BenchmarkTrainEpoch of losses/temi, whole
#      epochs), and the PyTorch reference on the same GPU with the same
#      shapes (bench/gpu/temi_epoch_torch_device.py --device cuda), float32
#      for 100 epochs; then shorter runs of torch with TF32 and of xla with
#      tf32=false, so that both precisions compare.
#   c. the k-NN graph (a sample of query rows against all rows, the whole
#      graph extrapolated, the first rows checked against float64 on the
#      host) and k-means (K 100, n_init 1) at 1,000,000 x 768 on xla.
#
# Every part runs under its own time limit, cut to what the budget has
# left; results go as JSON lines to $OUT/results.jsonl, the table to
# $OUT/summary.md, this script's output to $OUT/session.log and every
# part's full log to $OUT/logs.tar.gz (the device tool brings back at most
# 8 files). Without $OUT they go to ./gpu-session-out.
#
# Device tool call (after bench/gpu_prepare.sh here):
#   run(command="bash bench/gpu_session.sh", carry=["bin/gpu"], timeout_s=600)
#
# Knobs: GPU_SESSION_CPU=1 (plumbing check on a machine without a GPU:
# backend onnx, tiny sizes, torch on the CPU), GPU_SESSION_PARTS ("a b c"),
# GPU_SESSION_BUDGET_S (480), GPU_SESSION_EPOCHS (100), KNN_ROWS (100000),
# GPU_SESSION_PYTHON (python3), GPU_SESSION_TESTS=force (run part a even
# when the test binaries cannot take xla).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
repo=$(pwd -P)
start=$(date +%s)
budget=${GPU_SESSION_BUDGET_S:-480}
cpu=${GPU_SESSION_CPU:-0}
parts=${GPU_SESSION_PARTS:-a b c}
epochs=${GPU_SESSION_EPOCHS:-100}
out=${OUT:-$repo/gpu-session-out}
mkdir -p "$out"
results=$out/results.jsonl
: >"$results"
exec > >(tee -a "$out/session.log") 2>&1

work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-session.XXXXXX")
logs=$work/logs
mkdir -p "$logs"
x=$work/x
made_link=""
if [ "$cpu" = 1 ]; then
    PY=${GPU_SESSION_PYTHON:-/usr/bin/python3}
else
    PY=${GPU_SESSION_PYTHON:-python3}
fi
lib() { "$PY" "$repo/bench/gpu/session_lib.py" "$@"; }

elapsed() { echo $(($(date +%s) - start)); }
say() { echo "[gpu_session $(elapsed)s] $*"; }
record() { echo "$1" >>"$results"; }

finish() {
    local rc=$?
    say "writing the summary"
    lib summary "$results" >"$out/summary.md" 2>>"$logs/summary.err" || true
    cat "$out/summary.md"
    tar -C "$work" -czf "$out/logs.tar.gz" logs 2>/dev/null || true
    if [ -n "$made_link" ]; then rm -f "$made_link"; fi
    rm -rf "$work"
    say "done (results: $results)"
    exit "$rc"
}
trap finish EXIT
trap 'say "interrupted"; exit 130' INT TERM

# run_part NAME LIMIT_S CMD...: runs CMD with stdout to $logs/NAME.out and
# stderr to $logs/NAME.err under min(LIMIT_S, what the budget has left
# minus 20 s for the summary). Sets part_rc, part_secs, part_timed_out;
# returns 1 (and records a skip) when too little time is left.
run_part() {
    local name=$1 limit=$2
    shift 2
    local left=$((budget - $(elapsed) - 20))
    if [ "$left" -lt "$limit" ]; then limit=$left; fi
    if [ "$limit" -lt 10 ]; then
        say "$name: SKIPPED, the budget is spent"
        record "{\"part\": \"${name%%.*}\", \"name\": \"$name\", \"skipped\": \"budget spent\"}"
        return 1
    fi
    say "$name: limit ${limit}s: $*"
    local t0
    t0=$(date +%s.%N)
    timeout -k 10 "$limit" "$@" >"$logs/$name.out" 2>"$logs/$name.err"
    part_rc=$?
    part_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
    part_timed_out=0
    if [ "$part_rc" = 124 ] || [ "$part_rc" = 137 ]; then part_timed_out=1; fi
    part_limit=$limit
    say "$name: rc $part_rc in ${part_secs}s$([ "$part_timed_out" = 1 ] && echo ' (TIMED OUT)')"
    tail -n 3 "$logs/$name.err" | sed 's/^/    /'
    return 0
}

collect() { # collect NAME [KEY=VALUE...]: the part's JSON lines into results
    local name=$1
    shift
    lib collect "$name" "$part_rc" "$part_secs" "$part_timed_out" "$logs/$name.out" "limit_s=$part_limit" "$@" >>"$results"
}

# ---------------------------------------------------------------- 0. set-up
say "repository $repo; budget ${budget}s; parts: $parts; cpu mode: $cpu; results in $out"
archive=$repo/bin/gpu/gpu-carry.tar.xz
if [ ! -f "$archive" ]; then
    say "no $archive: run bench/gpu_prepare.sh on the build machine and carry bin/gpu"
    record '{"part": "env", "name": "unpack", "error": "bin/gpu/gpu-carry.tar.xz missing: run bench/gpu_prepare.sh and carry bin/gpu"}'
    exit 2
fi
mkdir -p "$x"
if ! tar -C "$x" -xJf "$archive" 2>"$logs/unpack.err"; then
    # No xz binary: Python's lzma reads it.
    "$PY" -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$archive" "$x" || {
        record '{"part": "env", "name": "unpack", "error": "cannot unpack bin/gpu/gpu-carry.tar.xz"}'
        exit 2
    }
fi
build_root=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["build_root"])' "$x/manifest.json")
tests_take_xla=$("$PY" -c 'import json, sys; print(str(json.load(open(sys.argv[1]))["tests_take_xla"]).lower())' "$x/manifest.json")
# The loss tests read the golden file at its build-time absolute path.
if [ "$build_root" != "$repo" ] && [ ! -e "$build_root/losses/losstest/testdata/temi_golden.json" ]; then
    if [ ! -e "$build_root" ] && mkdir -p "$(dirname "$build_root")" && ln -s "$repo" "$build_root"; then
        made_link=$build_root
        say "linked $build_root -> $repo (build root of the test binaries)"
    else
        say "WARNING: $build_root exists but is not this tree: the golden tests will not find their file"
    fi
fi
if [ -f "$x/ort/libonnxruntime.so" ]; then
    export ONNXRUNTIME_SHARED_LIBRARY_PATH=$x/ort/libonnxruntime.so
fi
export GOMLX_NO_AUTO_INSTALL=1
man=$(tr -d '\n' <"$x/manifest.json")
record "{\"part\": \"env\", \"name\": \"manifest\", \"manifest\": $man, \"tests_take_xla\": $tests_take_xla}"

xla_fp32=""
if [ "$cpu" = 1 ]; then
    spec=onnx
    record "{\"part\": \"env\", \"name\": \"mode\", \"device\": \"CPU mode (GPU_SESSION_CPU=1): backend onnx, tiny sizes\"}"
    if run_part probe 60 "$x/gpubench" probe -backend "$spec" -direct go; then collect probe; fi
else
    nvidia-smi >"$logs/nvidia-smi.txt" 2>&1 || true
    gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
    record "$($PY -c 'import json, sys; f = [s.strip() for s in sys.argv[1].split(",")] + ["", "", ""]
print(json.dumps({"part": "env", "name": "nvidia-smi", "device": f[0], "driver": f[1], "gpu_memory": f[2], "nproc": int(sys.argv[2])}))' "$gpu" "$(nproc)")"
    say "GPU: $gpu"
    if run_part versions 90 "$PY" "$repo/bench/gpu/session_lib.py" versions; then collect versions; fi
    lib find-plugin >"$logs/plugin.json" 2>"$logs/plugin.err"
    cat "$logs/plugin.json"
    record "$(cat "$logs/plugin.json")"
    plugin=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("plugin") or "")' "$logs/plugin.json" 2>/dev/null)
    if [ -z "$plugin" ]; then
        say "no JAX CUDA PJRT plugin found by $PY (jax_plugins.xla_cuda13 / xla_cuda12): nothing to run on xla"
        exit 3
    fi
    export CLUSTERLAB_XLA_PLUGIN=$plugin
    site=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["site"])' "$logs/plugin.json")
    libpath=$("$PY" -c 'import json, sys; print(":".join(json.load(open(sys.argv[1]))["nvidia_lib_dirs"]))' "$logs/plugin.json")
    datadir=$("$PY" -c 'import json, sys; d = json.load(open(sys.argv[1]))["cuda_data_dirs"]; print(d[0] if d else "")' "$logs/plugin.json")
    spec=xla:$plugin
    base_ld=${LD_LIBRARY_PATH:-}
    strategy=""
    for s in rpath libpath link; do
        unset XLA_FLAGS
        export LD_LIBRARY_PATH=$base_ld
        case $s in
        rpath) export GOPJRT_CUDA_CHECKS=0 ;;
        libpath)
            export GOPJRT_CUDA_CHECKS=0
            export LD_LIBRARY_PATH=$libpath${base_ld:+:$base_ld}
            if [ -n "$datadir" ]; then export XLA_FLAGS=--xla_gpu_cuda_data_dir=$datadir; fi
            ;;
        link) # docs/GPU.md's way: nvidia/ next to jax_plugins/, go-xla sets XLA_FLAGS itself
            unset GOPJRT_CUDA_CHECKS
            export LD_LIBRARY_PATH=$libpath${base_ld:+:$base_ld}
            if [ ! -e "$site/jax_plugins/nvidia" ] && [ -d "$site/nvidia" ]; then
                ln -s "$site/nvidia" "$site/jax_plugins/nvidia" && made_link=$site/jax_plugins/nvidia
            fi
            ;;
        esac
        # The first probe also tries tf32=false directly (plugin option)
        # and through clusterlab (needs the backend.go change).
        if run_part "probe_$s" 60 "$x/gpubench" probe -backend "$spec" -direct "$spec,tf32=false"; then
            collect "probe_$s" strategy="$s"
            if [ "$part_rc" = 0 ]; then
                strategy=$s
                break
            fi
        fi
    done
    if [ -z "$strategy" ]; then
        say "the xla backend does not compute under any environment tried: see the probe logs"
        exit 4
    fi
    say "xla works with strategy $strategy (GOPJRT_CUDA_CHECKS=${GOPJRT_CUDA_CHECKS:-unset} XLA_FLAGS=${XLA_FLAGS:-unset})"
    # Float32 products without TF32: only if clusterlab's backend spec takes options.
    if run_part probe_fp32 45 "$x/gpubench" probe -backend "$spec,tf32=false"; then
        collect probe_fp32
        if [ "$part_rc" = 0 ]; then xla_fp32="$spec,tf32=false"; fi
    fi
    record "{\"part\": \"env\", \"name\": \"xla\", \"plugin\": \"$plugin\", \"strategy\": \"$strategy\", \"xla_options_accepted\": $([ -n "$xla_fp32" ] && echo true || echo false), \"tests_take_xla\": $tests_take_xla}"
fi

# ------------------------------------------------- a. backend agreement tests
if [[ " $parts " == *" a "* ]]; then
    if [ "$cpu" != 1 ] && [ "$tests_take_xla" != true ] && [ "${GPU_SESSION_TESTS:-}" != force ]; then
        say "a: SKIPPED: these test binaries do not read CLUSTERLAB_TEST_BACKENDS, so they would test go and onnx only (see bench/gpu/README.md)"
        record '{"part": "tests", "name": "tests", "skipped": "test binaries cannot take xla (CLUSTERLAB_TEST_BACKENDS absent): apply the change in bench/gpu/README.md and rerun bench/gpu_prepare.sh"}'
    else
        # xla subtests compare against the float64 references and go; with
        # tf32=false where the backend spec takes it (TF32 products are not
        # float32-accurate, by design).
        export CLUSTERLAB_TEST_BACKENDS=xla
        if [ -n "$xla_fp32" ]; then export CLUSTERLAB_XLA_PLUGIN=${xla_fp32#xla:}; fi
        a_end=$(($(elapsed) + ${GPU_SESSION_TESTS_S:-120}))
        if [ "$cpu" = 1 ]; then
            tests=("temi:losses/temi:^TestGolden$" "train:core/train:^TestBackendsAgree$")
        else
            tests=("temi:losses/temi:." "pmi:losses/pmi:." "scan:losses/scan:." "train:core/train:^(TestBackendsAgree|TestGatherPathsAgree|TestBackendOutOfMemoryIsAnError)$"
                "neighbours:core/neighbours:." "baselines:core/baselines:.")
        fi
        for t in "${tests[@]}"; do
            IFS=: read -r n pkg re <<<"$t"
            left=$((a_end - $(elapsed)))
            [ "$left" -gt 60 ] && left=60
            if [ "$left" -lt 10 ]; then
                record "{\"part\": \"tests\", \"name\": \"test_$n\", \"skipped\": \"part a's time is spent\"}"
                continue
            fi
            # shellcheck disable=SC2016 # the inner shell expands its arguments
            if run_part "test_$n" "$left" bash -c 'cd "$1" && exec "$2" -test.v -test.count=1 -test.run "$3"' _ "$repo/$pkg" "$x/tests/$n.test" "$re"; then
                lib gotest "test_$n" "$part_rc" "$part_secs" "$part_timed_out" "$logs/test_$n.out" >>"$results"
            fi
        done
        unset CLUSTERLAB_TEST_BACKENDS
        if [ "$cpu" != 1 ]; then export CLUSTERLAB_XLA_PLUGIN=$plugin; fi
    fi
fi

# ------------------------------------------------ b. TEMI epochs, Go and torch
# go_epochs NAME SPEC EPOCHS LIMIT [SIZE STEPS]: BenchmarkTrainEpoch of
# losses/temi, whole epochs (testing runs the benchmark once with N = 1
# first, then N = EPOCHS; the figures are those of the N = EPOCHS run).
go_epochs() {
    local name=$1 s=$2 n=$3 limit=$4 size=${5:-D768_B1024} steps=${6:-0}
    # shellcheck disable=SC2016 # the inner shell expands its arguments
    if run_part "$name" "$limit" bash -c 'cd "$1" && exec "$2" -test.run "^$" -test.bench "TrainEpoch/$3\$" -test.benchtime "$4x" -test.v \
        -temi.backend "$5" -temi.epoch_steps "$6"' _ "$repo/losses/temi" "$x/tests/temi.test" "$size" "$n" "$s" "$steps"; then
        lib gobench "$name" "$part_rc" "$part_secs" "$part_timed_out" "$logs/$name.out" "limit_s=$part_limit" \
            "backend_spec=$s" "epochs=$n" >>"$results"
    fi
}
torch_epochs() { # torch_epochs NAME EPOCHS LIMIT EXTRA...
    local name=$1 n=$2 limit=$3
    shift 3
    if run_part "$name" "$limit" env PYTHONUNBUFFERED=1 "$PY" "$repo/bench/gpu/temi_epoch_torch_device.py" --epochs "$n" --steps 0 "$@"; then
        collect "$name"
    fi
}
if [[ " $parts " == *" b "* ]]; then
    if [ "$cpu" = 1 ]; then
        # One step of one epoch at the smallest size: the plumbing only.
        go_epochs go_epochs "$spec" 1 90 D384_B256 1
        torch_epochs torch_epochs 2 60 --device cpu --threads 1 --rows 2048 --dim 64 --heads 2 --clusters 10 --batch 256 --knn 10
    else
        tshape=(--device cuda --threads 4 --rows 50000 --dim 768 --heads 16 --clusters 100 --batch 1024 --knn 50)
        go_epochs go_epochs_xla "$spec" "$epochs" 150
        torch_epochs torch_epochs_fp32 "$epochs" 100 "${tshape[@]}"
        torch_epochs torch_epochs_tf32 $((epochs / 10 > 0 ? epochs / 10 : 1)) 40 "${tshape[@]}" --tf32
        if [ -n "$xla_fp32" ]; then
            go_epochs go_epochs_xla_fp32 "$xla_fp32" $((epochs / 10 > 0 ? epochs / 10 : 1)) 50
        else
            record '{"part": "go_epochs", "name": "go_epochs_xla_fp32", "skipped": "backend spec takes no options (tf32=false): see bench/gpu/README.md"}'
        fi
    fi
fi

# -------------------------------------------------- c. k-NN graph and k-means
if [[ " $parts " == *" c "* ]]; then
    if [ "$cpu" = 1 ]; then
        if run_part knn 60 "$x/gpubench" knn -backend "$spec" -n 20000 -d 64 -k 10 -rows 2000 -check 50; then collect knn; fi
        if run_part kmeans 60 "$x/gpubench" kmeans -backend "$spec" -n 20000 -d 64 -k 10 -n-init 1; then collect kmeans; fi
    else
        if run_part knn 90 "$x/gpubench" knn -backend "$spec" -n 1000000 -d 768 -k 50 -rows "${KNN_ROWS:-100000}" -check 128; then collect knn; fi
        if run_part kmeans 75 "$x/gpubench" kmeans -backend "$spec" -n 1000000 -d 768 -k 100 -n-init 1; then collect kmeans; fi
        # With TF32 the neighbour sets may differ from float32's: check the
        # float32 product on a smaller sample when the spec takes options.
        if [ -n "$xla_fp32" ]; then
            if run_part knn_fp32 45 "$x/gpubench" knn -backend "$xla_fp32" -n 1000000 -d 768 -k 50 -rows 20000 -check 128; then collect knn_fp32; fi
        fi
    fi
fi
say "all parts done"
