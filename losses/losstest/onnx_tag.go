//go:build onnx

package losstest

// OnnxTag reports whether this build has the onnx build tag, i.e. whether
// the onnx backend is compiled in (`go test -tags onnx`).
const OnnxTag = true
