//go:build dnnl

package dnnl

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkTEMI times the first layer's products of the TEMI step in the
// layouts bench/mlas_layouts times on ONNX Runtime (same names), at D 784
// with 512 rows (MNIST, B 256) and D 768 with 2048 rows (CIFAR, B 1024),
// 8192 outputs, in both precisions; it reports GFLOP/s.
//
//	go test -run '^$' -bench TEMI -benchtime 10x ./core/dnnl
func BenchmarkTEMI(b *testing.B) {
	const out = 8192
	type layout struct {
		name         string
		m, k, n      func(d, r int) int
		transA, trnB bool
	}
	D := func(d, r int) int { return d }
	R := func(d, r int) int { return r }
	O := func(d, r int) int { return out }
	layouts := []layout{
		{"fwd_W[out,D].x[R,D]^T", O, D, R, false, true},
		{"fwd_W[out,D].xT[D,R]", O, D, R, false, false},
		{"fwd_x[R,D].W[out,D]^T", R, D, O, false, true},
		{"fwd_x[R,D].W[D,out]", R, D, O, false, false},
		{"wgrad_dz[out,R].x[R,D]", O, R, D, false, false},
		{"wgrad_x[R,D]^T.dz[R,out]", D, R, O, true, false},
		{"wgrad_dz[R,out]^T.x[R,D]", O, R, D, true, false},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, dims := range [][2]int{{784, 512}, {768, 2048}} {
		d, rows := dims[0], dims[1]
		for _, prec := range []Precision{F32, BF16} {
			for _, l := range layouts {
				m, k, n := l.m(d, rows), l.k(d, rows), l.n(d, rows)
				b.Run(fmt.Sprintf("D%d_R%d/%s/%s", d, rows, prec, l.name), func(b *testing.B) {
					x, y, dst := randMat(r, m*k), randMat(r, k*n), make([]float32, m*n)
					if err := MatMul(dst, x, y, m, k, n, l.transA, l.trnB, prec); err != nil { // plan + warm-up
						b.Fatal(err)
					}
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if err := MatMul(dst, x, y, m, k, n, l.transA, l.trnB, prec); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(2*float64(m)*float64(k)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
			// The step's weight gradient added onto a gradient buffer
			// (oneDNN's sum post-op).
			m, k, n := out, rows, d
			b.Run(fmt.Sprintf("D%d_R%d/%s/wgrad_add_dz[out,R].x[R,D]", d, rows, prec), func(b *testing.B) {
				x, y, dst := randMat(r, m*k), randMat(r, k*n), make([]float32, m*n)
				if err := MatMulAdd(dst, x, y, m, k, n, false, false, prec); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := MatMulAdd(dst, x, y, m, k, n, false, false, prec); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(2*float64(m)*float64(k)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
