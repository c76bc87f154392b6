package baselines

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// deviceEngine runs both steps as GoMLX graphs with fixed shapes. The data
// goes to the device once, both as [n, d] and transposed [d, n], so that
// every product is a plain matrix product (no transposition of data-sized
// operands inside a step); only centres, candidates and per-point results
// travel.
type deviceEngine struct {
	b          compute.Backend
	n, d, k, T int
	x, xT, xsq *tensors.Tensor
	xsqHost    []float32
	xHost      []float32
	lloyd      *graph.Exec
	cands      *graph.Exec
	// scratch for the small per-call inputs
	cT, candT []float32
}

func newDeviceEngine(b compute.Backend, x []float32, n, d, k int) (*deviceEngine, error) {
	e := &deviceEngine{b: b, n: n, d: d, k: k, T: localTrials(k), xHost: x}
	e.xsqHost = squaredNorms(x, n, d)
	xT := make([]float32, n*d)
	for i := range n {
		for j, v := range x[i*d : (i+1)*d] {
			xT[j*n+i] = v
		}
	}
	e.x = tensors.FromFlatDataAndDimensions(x, n, d)
	e.xT = tensors.FromFlatDataAndDimensions(xT, d, n)
	e.xsq = tensors.FromFlatDataAndDimensions(e.xsqHost, n, 1)
	e.cT = make([]float32, d*k)
	e.candT = make([]float32, d*e.T)

	var err error
	e.lloyd, err = graph.NewExec(b, func(x, xT, xsq, cT, csq *graph.Node) []*graph.Node {
		// dist[i, c] = ||c||^2 - 2 x_i.c; adding ||x_i||^2 does not change
		// the nearest centre, so it is added to the minimum only.
		dist := graph.Sub(csq, graph.MulScalar(graph.MatMul(x, cT), 2)) // [n, k]
		labels := graph.ArgMin(dist, 1, dtypes.Int32)
		mind := graph.MaxScalar(graph.Add(xsq, graph.Reshape(graph.ReduceMin(dist, 1), n, 1)), 0)
		onehot := graph.OneHot(labels, k, dtypes.Float32) // [n, k]
		sumsT := graph.MatMul(xT, onehot)                 // [d, k]
		counts := graph.ReduceSum(onehot, 0)              // [k]
		return []*graph.Node{labels, mind, sumsT, counts}
	})
	if err != nil {
		e.close()
		return nil, fmt.Errorf("build Lloyd step graph: %w", err)
	}
	e.lloyd = e.lloyd.WithName("kmeans.lloyd").SetMaxCache(1)
	e.cands, err = graph.NewExec(b, func(x, xsq, candT, csq, closest *graph.Node) *graph.Node {
		dist := graph.Add(graph.Sub(xsq, graph.MulScalar(graph.MatMul(x, candT), 2)), csq) // [n, T]
		return graph.Min(closest, graph.MaxScalar(dist, 0))
	})
	if err != nil {
		e.close()
		return nil, fmt.Errorf("build k-means++ graph: %w", err)
	}
	e.cands = e.cands.WithName("kmeans.plusplus").SetMaxCache(1)
	return e, nil
}

func (e *deviceEngine) trials() int { return e.T }

func (e *deviceEngine) close() {
	for _, ex := range []*graph.Exec{e.lloyd, e.cands} {
		if ex != nil {
			ex.Finalize()
		}
	}
	for _, t := range []*tensors.Tensor{e.x, e.xT, e.xsq} {
		if t != nil {
			_ = t.FinalizeAll()
		}
	}
}

func (e *deviceEngine) assign(centers []float32, labels []int32, mind []float32, sums []float64, counts []int) error {
	d, k := e.d, e.k
	csq := squaredNorms(centers, k, d)
	for c := range k {
		for j := range d {
			e.cT[j*k+c] = centers[c*d+j]
		}
	}
	in := []*tensors.Tensor{tensors.FromFlatDataAndDimensions(e.cT, d, k), tensors.FromFlatDataAndDimensions(csq, 1, k)}
	outs, err := e.lloyd.Call(e.x, e.xT, e.xsq, in[0], in[1])
	finalizeAll(in)
	if err != nil {
		return fmt.Errorf("Lloyd step on backend %s: %w", e.b.Name(), err)
	}
	defer finalizeAll(outs)
	err = tensors.ConstFlatData(outs[0], func(f []int32) { copy(labels, f) })
	if err == nil {
		err = tensors.ConstFlatData(outs[1], func(f []float32) { copy(mind, f) })
	}
	if err == nil {
		err = tensors.ConstFlatData(outs[2], func(f []float32) {
			for j := range d {
				for c := range k {
					sums[c*d+j] = float64(f[j*k+c])
				}
			}
		})
	}
	if err == nil {
		err = tensors.ConstFlatData(outs[3], func(f []float32) {
			for c, v := range f {
				counts[c] = int(v)
			}
		})
	}
	if err != nil {
		return fmt.Errorf("read Lloyd step results: %w", err)
	}
	return nil
}

func (e *deviceEngine) candidates(cand []int32, closest []float32, out []float32) error {
	d, T := e.d, e.T
	csq := make([]float32, T)
	for t, ci := range cand {
		for j := range d {
			e.candT[j*T+t] = e.xHost[int(ci)*d+j]
		}
		csq[t] = e.xsqHost[ci]
	}
	in := []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(e.candT, d, T),
		tensors.FromFlatDataAndDimensions(csq, 1, T),
		tensors.FromFlatDataAndDimensions(closest, e.n, 1),
	}
	res, err := e.cands.Call1(e.x, e.xsq, in[0], in[1], in[2])
	finalizeAll(in)
	if err != nil {
		return fmt.Errorf("k-means++ candidates on backend %s: %w", e.b.Name(), err)
	}
	defer func() { _ = res.FinalizeAll() }()
	if err := tensors.ConstFlatData(res, func(f []float32) { copy(out, f) }); err != nil {
		return fmt.Errorf("read k-means++ candidates: %w", err)
	}
	return nil
}

func finalizeAll(ts []*tensors.Tensor) {
	for _, t := range ts {
		_ = t.FinalizeAll()
	}
}
