// Command mlas_layouts times the first layer's matrix products of the
// TEMI step on a backend (ONNX Runtime's MLAS on onnx) in every layout
// the step could use: which operand is transposed changes how MLAS packs
// and streams them, and so its rate (issue 16: MLAS ran 25-30% below
// OpenBLAS on the step's shapes).
//
//	go run -tags onnx ./bench/mlas_layouts -d 784 -rows 512 -out 8192 -runs 10
//
// It prints one line per layout: ms per product (median) and GFLOP/s.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/clusterlab/clusterlab/core/backend"
)

func main() {
	d := flag.Int("d", 784, "input dimension D")
	rows := flag.Int("rows", 512, "rows per step (2B)")
	out := flag.Int("out", 8192, "outputs of the layer (heads x hidden)")
	runs := flag.Int("runs", 10, "timed products per layout")
	be := flag.String("backend", "onnx", "backend")
	flag.Parse()
	if err := run(*be, *d, *rows, *out, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "mlas_layouts:", err)
		os.Exit(1)
	}
}

func random(r *rand.Rand, dims ...int) *tensors.Tensor {
	t := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
	tensors.MustMutableFlatData(t, func(flat []float32) {
		for i := range flat {
			flat[i] = float32(r.NormFloat64())
		}
	})
	return t
}

func run(name string, d, rows, out, runs int) error {
	o, err := backend.Open(name)
	if err != nil {
		return err
	}
	b := o.Backend
	r := rand.New(rand.NewPCG(1, 2))
	flops := 2 * float64(d) * float64(rows) * float64(out)
	type layout struct {
		name string
		a, c *tensors.Tensor
		fn   func(a, c *graph.Node) *graph.Node
	}
	wOD, wDO := random(r, out, d), random(r, d, out)
	xRD, xDR := random(r, rows, d), random(r, d, rows)
	gOR, gRO := random(r, out, rows), random(r, rows, out)
	layouts := []layout{
		{"fwd W[out,D] . x[R,D]^T -> [out,R] (the step's)", wOD, xRD, func(w, x *graph.Node) *graph.Node { return graph.MatMul(w, graph.TransposeAllAxes(x, 1, 0)) }},
		{"fwd W[out,D] . xT[D,R] -> [out,R]", wOD, xDR, func(w, x *graph.Node) *graph.Node { return graph.MatMul(w, x) }},
		{"fwd x[R,D] . W[out,D]^T -> [R,out]", xRD, wOD, func(x, w *graph.Node) *graph.Node { return graph.MatMul(x, graph.TransposeAllAxes(w, 1, 0)) }},
		{"fwd x[R,D] . W[D,out] -> [R,out]", xRD, wDO, func(x, w *graph.Node) *graph.Node { return graph.MatMul(x, w) }},
		{"wgrad dz[out,R] . x[R,D] -> [out,D] (the step's)", gOR, xRD, func(g, x *graph.Node) *graph.Node { return graph.MatMul(g, x) }},
		{"wgrad x[R,D]^T . dz[R,out] -> [D,out]", xRD, gRO, func(x, g *graph.Node) *graph.Node { return graph.MatMul(graph.TransposeAllAxes(x, 1, 0), g) }},
		{"wgrad dz[R,out]^T . x[R,D] -> [out,D]", gRO, xRD, func(g, x *graph.Node) *graph.Node { return graph.MatMul(graph.TransposeAllAxes(g, 1, 0), x) }},
	}
	fmt.Printf("backend %s, D %d, rows %d, out %d: %.2f GFLOP a product\n", o.Name, d, rows, out, flops/1e9)
	for _, l := range layouts {
		exec, err := graph.NewExec(b, l.fn)
		if err != nil {
			return err
		}
		var times []float64
		for i := 0; i < runs+2; i++ {
			start := time.Now()
			res, err := exec.Call1(l.a, l.c)
			if err != nil {
				return fmt.Errorf("%s: %w", l.name, err)
			}
			res.FinalizeAll()
			if i >= 2 {
				times = append(times, time.Since(start).Seconds())
			}
		}
		exec.Finalize()
		sort.Float64s(times)
		med := times[len(times)/2]
		fmt.Printf("%-52s %8.1f ms %7.0f GFLOP/s\n", l.name, 1e3*med, flops/med/1e9)
	}
	return nil
}
