//go:build onnx

package baselines

const onnxTag = true
