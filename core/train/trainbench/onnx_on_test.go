//go:build onnx

package trainbench

// onnxTagged: this test binary has the onnx backend compiled in.
const onnxTagged = true
