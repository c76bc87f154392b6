//go:build !onnx

package backend

const onnxCompiledIn = false
