#!/usr/bin/env bash
# Peak memory of a CIFAR-100-sized run (issue 6: under 2 GB in the runner
# and in each plugin): 50,000 + 10,000 images in the CIFAR-100 binary
# format, embedded by the dinov2 plugin with a DINOv2-architecture model of
# width 768 (bench/make_cifar100_sized.py), then the k-NN graph, k-means
# (n_init 10), the k-NN classifier and TEMI (16 heads, K = 100, batch 256;
# EPOCHS epochs, 2 by default) through the real binaries, with the peak
# resident memory of the runner and of every plugin process
# (bench/peak_rss.py).
#
#   make build && bench/memory_cifar100.sh            # data in /tmp/clusterlab-mem100
#   EPOCHS=5 DATA=/somewhere bench/memory_cifar100.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
DATA=${DATA:-/tmp/clusterlab-mem100}
EPOCHS=${EPOCHS:-2}
cd "$root"
[ -x bin/clusterlab ] || { echo "memory_cifar100: run make build first" >&2; exit 2; }
if [ ! -f "$DATA/vit768.onnx" ]; then
    "$PY" bench/make_cifar100_sized.py "$DATA" 2>/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/mem.yaml" <<YAML
experiment: mem100
runs_dir: $work/runs
cache_dir: $work/cache
dataset: {plugin: cifar, name: cifar100, root: $DATA/cifar-100-binary}
backbone: {plugin: dinov2, model: $DATA/vit768.onnx, resize: 28, center_crop: 28}
neighbours: {k: 50}
loss: {plugin: temi, epochs: $EPOCHS, warmup_epochs: 1, batch_size: 256, heads: 16}
YAML
export GOMLX_NO_AUTO_INSTALL=1
/usr/bin/time -f "wall %e s" "$PY" bench/peak_rss.py bin -- bin/clusterlab run "$work/mem.yaml" 2>&1 >/dev/null | tr "\r" "\n" |
    grep -E "^\{|^wall|done in|clusterlab:" || true
