// Package onnxpb is the Go code protoc generates from ONNX's own
// onnx.proto (ONNX 1.12.0: IR version 8, operator set 17), the schema of
// .onnx files. Package onnxmodel builds and reads models with it; nothing
// else should need it directly.
//
// onnx.proto is upstream's file unchanged (SPDX-License-Identifier:
// Apache-2.0); generate.sh regenerates onnx.pb.go.
package onnxpb

//go:generate ./generate.sh
