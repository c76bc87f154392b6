//go:build dnnl && cgo

package train

import "github.com/clusterlab/clusterlab/core/dnnl"

// hostProducts says whether this binary can run the first layer's
// products on the host (oneDNN, compiled in with the dnnl build tag).
const hostProducts = true

// hostMatMul sets dst[m,n] = op(a)[m,k] . op(b)[k,n] (row-major float32),
// with bf16 inputs and float32 accumulation when bf16 is set.
func hostMatMul(dst, a, b []float32, m, k, n int, transA, transB, bf16 bool) error {
	prec := dnnl.F32
	if bf16 {
		prec = dnnl.BF16
	}
	return dnnl.MatMul(dst, a, b, m, k, n, transA, transB, prec)
}

// hostProductsVersion names the library behind hostMatMul, for the
// trainer's progress message.
func hostProductsVersion() string { return "oneDNN " + dnnl.Version() }
