package train

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/train/internal/stephook"
)

// The benchmark harness (core/train/trainbench) runs the very code a Fit
// runs per step through these hooks; core/train exports nothing for it.
func init() { stephook.NewRun = newBenchRun }

// benchRun is a compiled training step with its state on a backend, random
// train embeddings on the device and a random k-NN table, set up exactly
// as Fit sets up a run (stephook.Run).
type benchRun struct {
	backend string
	run     *deviceRun
	sched   schedules
	nb      neighbours
	knn     int // partners are drawn from the first knn neighbours
	batch   int
	seed    int64
}

// newBenchRun is stephook.NewRun.
func newBenchRun(loss any, backendSpec string, sz stephook.Sizes, seed int64, options core.Options) (stephook.Run, error) {
	gl, ok := loss.(GraphLoss)
	if !ok {
		return nil, fmt.Errorf("benchmark: %T is not a train.GraphLoss", loss)
	}
	given := core.Options{OptWarmupEpochs: 0, OptFreezeLastLayer: 0}
	for k, v := range options {
		given[k] = v
	}
	for k, v := range map[string]int{OptHeads: sz.Heads, OptBatchSize: sz.Batch, OptNLayers: sz.Layers,
		OptHiddenDim: sz.Hidden, OptBottleneckDim: sz.Bottleneck} {
		given[k] = v
	}
	p, err := prepare(gl, given)
	if err != nil {
		return nil, fmt.Errorf("benchmark: %w", err)
	}
	desc, c := p.desc, p.cfg
	stateVars, err := p.step.State(sz.Heads, sz.Clusters)
	if err != nil {
		return nil, fmt.Errorf("loss %q state: %w", desc.Name, err)
	}
	a := arch{D: sz.D, Heads: sz.Heads, Clusters: sz.Clusters, Layers: sz.Layers, Hidden: sz.Hidden, Bottle: sz.Bottleneck}
	sb := newStepBuilder(a, p, stateVars)
	specs := sb.specs
	be, err := backend.Open(backendSpec, sb.backendOptions()...)
	if err != nil {
		return nil, err
	}

	student := initParams(specs, seed)
	host := &hostState{Student: student, Teacher: student, M: zerosLike(specs), V: zerosLike(specs)}
	for _, s := range stateVars {
		host.Loss = append(host.Loss, s.Init)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0xbe_c4))
	data := matrix{Data: make([]float32, sz.Rows*sz.D), Rows: sz.Rows, Cols: sz.D}
	for i := range data.Data {
		data.Data[i] = float32(rng.NormFloat64())
	}
	knn := min(c.KNN, sz.Rows)
	nb := neighbours{Idx: make([]int32, sz.Rows*knn), N: sz.Rows, K: knn}
	for i := range nb.Idx {
		nb.Idx[i] = int32(rng.IntN(sz.Rows))
	}

	run, err := newDeviceRun(be.Backend, sb, host, data, strings.HasPrefix(be.Name, "xla"))
	if err != nil {
		return nil, err
	}
	ipe := sz.Rows / sz.Batch
	return &benchRun{backend: be.Name, run: run, sched: newSchedules(c, ipe), nb: nb, knn: knn, batch: sz.Batch, seed: seed}, nil
}

func (r *benchRun) Backend() string { return r.backend }

func (r *benchRun) Iters() int { return len(r.sched.LR) }

func (r *benchRun) Step(it int, rows []int32) ([]float32, error) {
	return r.run.step(rows, r.sched.stepScalars(it))
}

func (r *benchRun) EpochRows(epoch int) [][]int32 {
	return epochRows(r.seed, epoch, r.nb, r.knn, r.batch)
}

func (r *benchRun) Phases() stephook.Phases { return r.run.phases }

func (r *benchRun) Close() { r.run.close() }
