//go:build !onnx

package train

// onnxTagged: this test binary was built without the onnx tag.
const onnxTagged = false
