#!/usr/bin/env bash
# Installs the Debian packages some tests need, when they are missing:
# Fashion-MNIST (data) and the Python, gRPC and stub generators of
# examples/backbone-python. `make test` runs it. Needs root and apt-get;
# without them it only says what to install (the tests then fail saying so).
set -euo pipefail
pkgs="dataset-fashion-mnist python3-grpcio python3-protobuf python3-cryptography protobuf-compiler protobuf-compiler-grpc"
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup-debian: installing$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
else
  echo "setup-debian: missing Debian packages:$missing; install them with: sudo apt-get install$missing" >&2
fi
