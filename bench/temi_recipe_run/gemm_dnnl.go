//go:build dnnl && cgo

package main

import (
	"time"

	"github.com/clusterlab/clusterlab/core/dnnl"
)

// gemmPeak times oneDNN's float32 matmul on the first layer's products at
// the trainer's layouts (W0 [out, D] . x^T, and dz [out, R] . x), best of
// repeat runs after one warm-up, as the script's GEMM bound takes the best
// rate any library reaches on each shape.
func gemmPeak(d, rows, out, repeat int) (library string, rates []gemmRate, err error) {
	x := filled(rows * d)
	w := filled(out * d)
	dz := filled(out * rows)
	z := make([]float32, out*rows)
	gw := make([]float32, out*d)
	for _, c := range []struct {
		name string
		run  func() error
	}{
		{"l1_fwd", func() error { return dnnl.MatMul(z, w, x, out, d, rows, false, true, dnnl.F32) }},
		{"l1_wgrad", func() error { return dnnl.MatMul(gw, dz, x, out, rows, d, false, false, dnnl.F32) }},
	} {
		if err := c.run(); err != nil {
			return "", nil, err
		}
		best := time.Duration(1 << 62)
		for range repeat {
			start := time.Now()
			if err := c.run(); err != nil {
				return "", nil, err
			}
			best = min(best, time.Since(start))
		}
		flop := 2 * float64(out) * float64(d) * float64(rows)
		rates = append(rates, gemmRate{Shape: c.name, GFLOP: flop / 1e9, MS: float64(best.Microseconds()) / 1000,
			GFLOPS: flop / best.Seconds() / 1e9})
	}
	return "oneDNN " + dnnl.Version(), rates, nil
}

func filled(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i%251)/251 - 0.5
	}
	return v
}
