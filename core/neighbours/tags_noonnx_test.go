//go:build !onnx

package neighbours

const onnxTag = false
