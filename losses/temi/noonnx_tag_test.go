//go:build !onnx

package main

// onnxTag reports whether the test binary was built with -tags onnx.
const onnxTag = false
