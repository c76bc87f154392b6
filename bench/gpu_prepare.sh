#!/usr/bin/env bash
# Builds, on this machine, everything bench/gpu_session.sh runs on a GPU
# machine, where nothing can be downloaded and Go (or its module cache)
# may be missing: the test binaries of the backend agreement tests, the
# gpubench program (backend probe, k-NN graph, k-means) and the ONNX
# Runtime library the onnx-tagged test binaries open. All of it goes into
# ONE archive, bin/gpu/gpu-carry.tar.xz (bin/ is git-ignored), because the
# working tree that travels to the device machine, carried paths included,
# must stay under 64 MiB: the six test binaries are 16-22 MB each, but
# mostly the same code, and xz with a dictionary larger than one binary
# stores them in about 12 MB together.
#
#   bench/gpu_prepare.sh                 # then, with the device tool: run(command=..., carry=["bin/gpu"])
#   GPU_PREPARE_ONNX=0 bench/gpu_prepare.sh   # without -tags onnx and without the ONNX Runtime library
#
# The binaries are built from the working tree as it is now, WITHOUT
# -trimpath: the loss tests find their golden file through the absolute
# path of losses/losstest at build time (losstest.GoldenPath), which
# gpu_session.sh recreates on the device machine as a link when it is
# missing there. The build root is recorded in bin/gpu/manifest.json.
#
# Builds run under `nice` and one package at a time (`-p 1`) so that a
# shared machine stays usable; xz runs single-threaded (about a minute).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd -P)
out=bin/gpu
onnx=${GPU_PREPARE_ONNX:-1}
limit=$((64 * 1024 * 1024))

tags=()
if [ "$onnx" = 1 ]; then
    tags=(-tags onnx)
    ort=${ONNXRUNTIME_SHARED_LIBRARY_PATH:-.deps/onnxruntime/libonnxruntime.so}
    if [ ! -f "$ort" ]; then
        echo "gpu_prepare: $ort not found: run \`make setup\` first, or GPU_PREPARE_ONNX=0 to build without the onnx backend" >&2
        exit 2
    fi
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/gpu-prepare.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/x/tests" "$out"

# The packages whose tests compare backends (see gpu_session.sh, part a).
pkgs=(losses/temi losses/pmi losses/scan core/train core/neighbours core/baselines)
for p in "${pkgs[@]}"; do
    n=$(basename "$p")
    echo "gpu_prepare: go test -c ./$p" >&2
    nice -n 19 go test -c -p 1 "${tags[@]}" -ldflags='-s -w' -o "$stage/x/tests/$n.test" "./$p"
done
echo "gpu_prepare: go build ./bench/gpu/gpubench" >&2
nice -n 19 go build -p 1 "${tags[@]}" -ldflags='-s -w' -o "$stage/x/gpubench" ./bench/gpu/gpubench
if [ "$onnx" = 1 ]; then
    mkdir -p "$stage/x/ort"
    cp "$ort" "$stage/x/ort/libonnxruntime.so"
fi

# Whether the test code can take the xla backend (the change proposed in
# bench/gpu/README.md adds this variable to losses/losstest/backends.go).
xla_tests=false
if grep -q CLUSTERLAB_TEST_BACKENDS "$stage/x/tests/temi.test"; then
    xla_tests=true
fi
pk=$(printf '"%s", ' "${pkgs[@]}")
pk="[${pk%, }]"
cat >"$stage/x/manifest.json" <<EOF
{"built": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "build_root": "$root", "git_head": "$(git rev-parse HEAD 2>/dev/null || echo unknown)",
 "git_dirty": $(if [ -n "$(git status --porcelain 2>/dev/null | grep -v '^??' || true)" ]; then echo true; else echo false; fi),
 "go": "$(go env GOVERSION)", "onnx_tag": $([ "$onnx" = 1 ] && echo true || echo false), "tests_take_xla": $xla_tests,
 "packages": $pk}
EOF

echo "gpu_prepare: xz (one stream, 192 MiB dictionary)" >&2
tmpxz="$out/gpu-carry.tar.xz.tmp"
tar -C "$stage/x" -cf - . | nice -n 19 xz -T1 --lzma2=preset=6,dict=192MiB -c >"$tmpxz"
mv "$tmpxz" "$out/gpu-carry.tar.xz"
cp "$stage/x/manifest.json" "$out/manifest.json"
# The session script travels in the working tree; nothing else belongs here.
find "$out" -mindepth 1 -maxdepth 1 ! -name gpu-carry.tar.xz ! -name manifest.json -exec rm -rf {} +

carry=$(du -cb "$out"/* | tail -1 | cut -f1)
tree=$(git ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null | awk '/\ttotal$/ {s += $1} END {print s + 0}')
total=$((carry + tree))
awk -v c="$carry" -v t="$tree" -v o="$out" 'BEGIN {m = 1048576
    printf "gpu_prepare: carry %s = %.1f MiB; working tree (tracked + untracked not ignored) %.1f MiB; together %.1f MiB of 64\n", o, c / m, t / m, (c + t) / m}' >&2
ls -l "$out" >&2
echo "gpu_prepare: test binaries take the xla backend: $xla_tests" >&2
if [ "$total" -ge "$limit" ]; then
    echo "gpu_prepare: OVER the 64 MiB the device tool carries; try GPU_PREPARE_ONNX=0" >&2
    exit 1
fi
echo 'run carry: ["bin/gpu"]'
