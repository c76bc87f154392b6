package baselines

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// deviceEngine runs both distance steps as GoMLX graphs with fixed
// shapes. The data goes to the device once; only centres, candidates and
// per-point results travel.
//
// The per-cluster sums of a Lloyd step are kept on the host and updated
// from the points whose label changed, instead of a second product
// (one-hot labels by the data) on the device: the steps are bound by
// reading the data, and that product read all of it a second time every
// iteration, while after the first few iterations only a few points move.
type deviceEngine struct {
	b        compute.Backend
	n, d, k  int
	T        int
	x, xsq   *tensors.Tensor
	xsqHost  []float32
	xHost    []float32
	lloyd    *graph.Exec
	cands    *graph.Exec
	cT       []float32 // scratch for the centres, transposed
	candT    []float32 // scratch for the candidates, transposed
	labelsAt []int32   // labels the running sums are of; -1: none yet
	sums     []float64 // [k, d] running sums of the points of each cluster
	counts   []int
	forked   bool // shares x and the graphs with the engine it came from
}

func newDeviceEngine(b compute.Backend, x []float32, n, d, k int) (*deviceEngine, error) {
	e := &deviceEngine{b: b, n: n, d: d, k: k, T: localTrials(k), xHost: x}
	e.xsqHost = squaredNorms(x, n, d)
	e.x = tensors.FromFlatDataAndDimensions(x, n, d)
	e.xsq = tensors.FromFlatDataAndDimensions(e.xsqHost, n, 1)
	// On the device now, once: forks use them from several goroutines,
	// and a lazy first transfer would race.
	for _, t := range []*tensors.Tensor{e.x, e.xsq} {
		if err := t.MaterializeOnDevice(b, false, 0); err != nil {
			e.close()
			return nil, fmt.Errorf("k-means: data to backend %s: %w", b.Name(), err)
		}
	}
	e.newScratch()

	var err error
	e.lloyd, err = graph.NewExec(b, func(x, xsq, cT, csq *graph.Node) []*graph.Node {
		// dist[i, c] = ||c||^2 - 2 x_i.c; adding ||x_i||^2 does not change
		// the nearest centre, so it is added to the minimum only.
		dist := graph.Sub(csq, graph.MulScalar(graph.MatMul(x, cT), 2)) // [n, k]
		labels := graph.ArgMin(dist, 1, dtypes.Int32)
		mind := graph.MaxScalar(graph.Add(xsq, graph.Reshape(graph.ReduceMin(dist, 1), n, 1)), 0)
		return []*graph.Node{labels, mind}
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

// newScratch gives the engine the per-run state of its own.
func (e *deviceEngine) newScratch() {
	e.cT = make([]float32, e.d*e.k)
	e.candT = make([]float32, e.d*e.T)
	e.labelsAt = make([]int32, e.n)
	for i := range e.labelsAt {
		e.labelsAt[i] = -1
	}
	e.sums = make([]float64, e.k*e.d)
	e.counts = make([]int, e.k)
}

func (e *deviceEngine) trials() int { return e.T }

func (e *deviceEngine) fork() engine {
	f := *e
	f.forked = true
	f.newScratch()
	return &f
}

func (e *deviceEngine) close() {
	if e.forked {
		return // the data and graphs belong to the engine forked from
	}
	for _, ex := range []*graph.Exec{e.lloyd, e.cands} {
		if ex != nil {
			ex.Finalize()
		}
	}
	for _, t := range []*tensors.Tensor{e.x, e.xsq} {
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
	outs, err := e.lloyd.Call(e.x, e.xsq, in[0], in[1])
	finalizeAll(in)
	if err != nil {
		return fmt.Errorf("Lloyd step on backend %s: %w", e.b.Name(), err)
	}
	defer finalizeAll(outs)
	err = tensors.ConstFlatData(outs[0], func(f []int32) { copy(labels, f) })
	if err == nil {
		err = tensors.ConstFlatData(outs[1], func(f []float32) { copy(mind, f) })
	}
	if err != nil {
		return fmt.Errorf("read Lloyd step results: %w", err)
	}
	for i, l := range labels {
		if l < 0 || int(l) >= k {
			return fmt.Errorf("Lloyd step on backend %s: label %d of point %d is outside [0, %d) (non-finite distances?)", e.b.Name(), l, i, k)
		}
	}
	e.updateSums(labels)
	copy(sums, e.sums)
	copy(counts, e.counts)
	return nil
}

// updateSums brings the running sums and counts to labels: point by point
// for the points whose label changed, or from scratch (in parallel, in
// chunk order, so deterministic) when most did, as in a run's first step.
func (e *deviceEngine) updateSums(labels []int32) {
	d, k := e.d, e.k
	changed := 0
	for i, l := range labels {
		if l != e.labelsAt[i] {
			changed++
		}
	}
	if 4*changed > e.n {
		chunks := (e.n + hostChunk - 1) / hostChunk
		partial := make([]float64, chunks*k*d)
		pcount := make([]int, chunks*k)
		parallelChunks(e.n, func(c, lo, hi int) {
			ps, pc := partial[c*k*d:(c+1)*k*d], pcount[c*k:(c+1)*k]
			for i := lo; i < hi; i++ {
				l := int(labels[i])
				pc[l]++
				s := ps[l*d : (l+1)*d]
				for j, v := range e.xHost[i*d : (i+1)*d] {
					s[j] += float64(v)
				}
			}
		})
		clear(e.sums)
		clear(e.counts)
		for c := range chunks {
			for j, v := range partial[c*k*d : (c+1)*k*d] {
				e.sums[j] += v
			}
			for j, v := range pcount[c*k : (c+1)*k] {
				e.counts[j] += v
			}
		}
		copy(e.labelsAt, labels)
		return
	}
	for i, l := range labels {
		old := e.labelsAt[i]
		if l == old {
			continue
		}
		row := e.xHost[i*d : (i+1)*d]
		if old >= 0 {
			s := e.sums[int(old)*d : int(old+1)*d]
			for j, v := range row {
				s[j] -= float64(v)
			}
			e.counts[old]--
		}
		s := e.sums[int(l)*d : int(l+1)*d]
		for j, v := range row {
			s[j] += float64(v)
		}
		e.counts[l]++
		e.labelsAt[i] = l
	}
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
