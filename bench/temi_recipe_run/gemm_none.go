//go:build !(dnnl && cgo)

package main

import "errors"

func gemmPeak(d, rows, out, repeat int) (library string, rates []gemmRate, err error) {
	return "", nil, errors.New("-gemm needs oneDNN: build with -tags 'onnx dnnl'")
}
