//go:build !(dnnl && cgo)

package train

import "errors"

// hostProducts is false: this binary was built without the dnnl build tag
// (or without cgo), so every product runs in the step graph.
const hostProducts = false

func hostMatMul(dst, a, b []float32, m, k, n int, transA, transB, bf16 bool) error {
	return errors.New("host products need a binary built with the dnnl build tag (make build)")
}

func hostProductsVersion() string { return "" }
