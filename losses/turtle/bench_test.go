package main

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
)

// BenchmarkIteration times outer iterations as Fit runs them (batch and
// inner init drawn on the host, the rows gathered into the device batch,
// one graph execution, the metrics read back) at the size of the speed
// target: MNIST raw pixels (N 60000, D 784, C 10) at the authors'
// defaults (B 10000, M 10, cold start), one space. The data are uniform
// in [0, 1) like pixels/255. The backend is $TURTLE_BENCH_BACKEND (auto,
// go, onnx, ...; default auto); $TURTLE_BENCH_SPACES sets the number of
// spaces (default 1), $TURTLE_BENCH_TRANSPOSED_GRAD=0 or 1 the gradient
// form (default: Fit's choice for the backend). It reports ms/iter and cpu-ms/iter (this process's
// CPU time, all threads).
//
//	go test -tags onnx -run '^$' -bench Iteration -benchtime 30x ./losses/turtle
func BenchmarkIteration(b *testing.B) {
	const N, D, C = 60000, 784, 10
	spec := os.Getenv("TURTLE_BENCH_BACKEND")
	if spec == "" {
		spec = "auto"
	}
	S := 1
	if v := os.Getenv("TURTLE_BENCH_SPACES"); v != "" {
		S, _ = strconv.Atoi(v)
	}
	be, err := backend.Open(spec)
	if err != nil {
		b.Fatal(err)
	}
	cfg, _, err := decode(nil)
	if err != nil {
		b.Fatal(err)
	}
	dims := make([]int, S)
	var data []*tensors.Tensor
	r := rand.New(rand.NewPCG(1, 2))
	for s := range dims {
		dims[s] = D
		x := make([]float32, N*D)
		for i := range x {
			x[i] = r.Float32()
		}
		data = append(data, tensors.FromFlatDataAndDimensions(x, N, D))
	}
	ig := &iterGraph{dims: dims, clusters: C, steps: cfg.InnerSteps, gamma: cfg.Gamma, warm: cfg.WarmStart, dtype: dtypes.Float32,
		transposedGrad: transposedGradOn(be.Name)}
	if v := os.Getenv("TURTLE_BENCH_TRANSPOSED_GRAD"); v != "" {
		ig.transposedGrad = v == "1"
	}
	var state []*tensors.Tensor
	for i, a := range stateArrays(dims, C, cfg.WarmStart) {
		state = append(state, tensors.FromFlatDataAndDimensions(initialState(1, dims, C, cfg.WarmStart)[i], a.Shape...))
	}
	start := time.Now()
	run, err := newDeviceRun(be.Backend, ig, state, data, cfg.BatchSize, donateOn(be.Name))
	if err != nil {
		b.Fatal(err)
	}
	defer run.close()
	it := newIterator(run, cfg, 1, dims, C, N, cfg.BatchSize)
	if _, err := it.iterate(0); err != nil { // compiles
		b.Fatal(err)
	}
	b.Logf("%s (%s), transposed gradient %v: upload, compile and first iteration %v", be.Name, be.Why, ig.transposedGrad, time.Since(start).Round(time.Millisecond))
	cpu0 := cpuTime()
	t := 1
	b.ResetTimer()
	for b.Loop() {
		m, err := it.iterate(t)
		if err != nil {
			b.Fatal(err)
		}
		if m[0] != m[0] {
			b.Fatalf("loss NaN at iteration %d", t)
		}
		t++
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/n, "ms/iter")
	b.ReportMetric((cpuTime()-cpu0).Seconds()*1000/n, "cpu-ms/iter")
}
