#!/usr/bin/env bash
# gen-python-stubs.sh DIR: generates the Python protobuf and gRPC stubs of
# the clusterlab plugin protocol (plugins/proto/clusterlab.proto) into DIR:
# DIR/clusterlab_pb2.py (messages) and DIR/clusterlab_pb2_grpc.py (services).
# A Python plugin imports them with DIR on its sys.path (PYTHONPATH); see
# examples/backbone-python. The stubs are generated, never committed.
#
# Needs protoc and grpc_python_plugin; on Debian/Ubuntu:
#   apt-get install protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf
# Debian's protoc (3.21) writes code for Debian's python3-protobuf (3.21,
# "4.21.12") and grpc_python_plugin (1.51) for python3-grpcio (1.51); a
# newer protoc writes code that an older protobuf runtime refuses to import.
# Set PROTOC and GRPC_PYTHON_PLUGIN to use other ones.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR   (writes clusterlab_pb2.py and clusterlab_pb2_grpc.py into DIR)" >&2
  exit 2
fi
out=$1
root=$(cd "$(dirname "$0")/.." && pwd)
proto_dir=$root/plugins/proto
install="apt-get install protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf"

# Prefer Debian's tools, which match Debian's Python packages, over others
# found first on PATH.
find_tool() { # NAME -> path
  if [ -x "/usr/bin/$1" ]; then echo "/usr/bin/$1"; else command -v "$1" || true; fi
}
protoc=${PROTOC:-$(find_tool protoc)}
plugin=${GRPC_PYTHON_PLUGIN:-$(find_tool grpc_python_plugin)}
if [ -z "$protoc" ] || ! [ -x "$protoc" ]; then
  echo "$0: protoc not found; install it: $install" >&2
  exit 1
fi
if [ -z "$plugin" ] || ! [ -x "$plugin" ]; then
  echo "$0: grpc_python_plugin (the protoc plugin for Python gRPC stubs) not found; install it: $install" >&2
  exit 1
fi

mkdir -p "$out"
# protoc finds the well-known types (google/protobuf/any.proto) in the
# include directory installed beside it (/usr/include for Debian's).
"$protoc" -I "$proto_dir" \
  --python_out="$out" \
  --plugin=protoc-gen-grpc_python="$plugin" --grpc_python_out="$out" \
  "$proto_dir/clusterlab.proto"
