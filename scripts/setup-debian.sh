#!/usr/bin/env bash
# Installs the Debian packages the build and some tests need, when they are
# missing: libjpeg-turbo's and libwebp's headers (the images dataset plugin
# decodes JPEG and WebP with them through cgo, as Pillow does), OpenBLAS
# (libopenblas-dev: the logistic regression's float64 products in
# core/logreg, linked statically), oneDNN (libdnnl-dev: the trainer's
# first-layer products, core/dnnl, linked dynamically to libdnnl2),
# Fashion-MNIST (data) and
# the Python, gRPC and stub generators of examples/backbone-python, and
# Slurm and munge for the Slurm executor's test (scripts/slurm-local.sh).
# `make test` runs it; `scripts/setup-debian.sh build` (make setup, make
# check) installs the build's packages only. Needs root and apt-get; without
# them it only says what to install (the build or the tests then fail saying
# so). Pillow and NumPy (python3-pil, python3-numpy) are needed only to
# regenerate fixtures (scripts/make_image_fixtures.py) and by the benchmark
# bench/decode_compare.sh, which install them themselves.
set -euo pipefail
build_pkgs="libjpeg62-turbo-dev libwebp-dev libopenblas-dev libdnnl-dev"
test_pkgs="dataset-fashion-mnist python3-grpcio python3-protobuf python3-cryptography protobuf-compiler protobuf-compiler-grpc slurm-wlm munge"
case "${1:-all}" in
  build) pkgs="$build_pkgs" ;;
  all) pkgs="$build_pkgs $test_pkgs" ;;
  *) echo "usage: $0 [build|all]" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup-debian: installing$missing"
  apt-get update -qq
  # slurm-wlm and munge are for the tests' private Slurm
  # (scripts/slurm-local.sh), which starts its own daemons: keep their
  # packages from starting system-wide ones (a policy-rc.d that denies
  # every start, unless the machine has its own).
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
else
  echo "setup-debian: missing Debian packages:$missing; install them with: sudo apt-get install$missing" >&2
fi
