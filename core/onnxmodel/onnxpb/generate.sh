#!/bin/sh
# Regenerates onnx.pb.go from onnx.proto. Run from any directory (go
# generate ./core/onnxmodel/onnxpb does).
#
# onnx.proto is ONNX's own, unmodified: /usr/lib/python3/dist-packages/onnx/onnx.proto
# of Debian's python3-onnx 1.12.0 (IR version 8, operator set 17; ONNX is
# Apache-2.0, SPDX header kept). The Go package is set on the command line
# (M option), so the file stays byte for byte upstream's.
#
# Needs /usr/bin/protoc (Debian: apt-get install protobuf-compiler) and
# protoc-gen-go at the version of go.mod's google.golang.org/protobuf:
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
set -eu
cd "$(dirname "$0")"
PATH="$(go env GOPATH)/bin:$PATH"
/usr/bin/protoc --proto_path=. \
	--go_out=. --go_opt=paths=source_relative \
	--go_opt=Monnx.proto=github.com/clusterlab/clusterlab/core/onnxmodel/onnxpb \
	onnx.proto
