//go:build onnx

package backend

import _ "github.com/gomlx/compute-onnx" // registers "onnx"

const onnxCompiledIn = true
