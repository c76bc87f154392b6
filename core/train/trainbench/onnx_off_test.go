//go:build !onnx

package trainbench

// onnxTagged: this test binary was built without the onnx tag.
const onnxTagged = false
