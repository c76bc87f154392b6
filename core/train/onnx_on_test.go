//go:build onnx

package train

// onnxTagged: this test binary has the onnx backend compiled in.
const onnxTagged = true
