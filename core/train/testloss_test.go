package train

import (
	"fmt"

	"github.com/clusterlab/clusterlab/core"
	"github.com/gomlx/gomlx/core/graph"
)

// pmiLoss is a test-only GraphLoss of TEMI's shape and cost (log-softmax,
// exp, log, a pair weight, an EMA prior as state): per head,
// L_h = -mean_r w_r * log sum_k exp(beta*(log ps + log pt~) - log prior),
// where pt~ is the teacher of the row's pair partner. It keeps the tests of
// the trainer independent of the real TEMI plugin (a main package).
type pmiLoss struct {
	// nanBelowTeacherTemp, when > 0, makes the loss NaN once the teacher
	// temperature drops below it (to test the non-finite stop).
	nanBelowTeacherTemp float64
}

func (pmiLoss) Describe() core.Description {
	return core.Description{
		Kind: core.KindLoss, Name: "testpmi", Version: "0.1", Summary: "test-only weighted beta-PMI",
		Options: []core.Option{
			{Name: "beta", Type: core.TypeFloat, Default: 0.6, Min: core.Bound(0.01), Help: "exponent"},
			{Name: "probs_momentum", Type: core.TypeFloat, Default: 0.9, Min: core.Bound(0), Max: core.Bound(0.999), Help: "prior EMA"},
		},
	}
}

// pmiStep is pmiLoss with its options fixed.
type pmiStep struct {
	Beta     float64 `option:"beta"`
	Momentum float64 `option:"probs_momentum"`
	loss     pmiLoss
}

func (l pmiLoss) Prepare(opts core.Options) (Step, error) {
	s := pmiStep{loss: l}
	if _, err := core.Decode(l.Describe().Options, opts, &s); err != nil {
		return nil, err
	}
	if s.Beta <= 0 {
		return nil, &core.OptionError{Key: "beta", Msg: "must be > 0"}
	}
	return s, nil
}

func (pmiStep) State(heads, clusters int) ([]StateVar, error) {
	if heads < 1 || clusters < 2 {
		return nil, fmt.Errorf("need a head and 2 clusters, got %d and %d", heads, clusters)
	}
	init := make([]float32, heads*clusters)
	for i := range init {
		init[i] = 1 / float32(clusters)
	}
	return []StateVar{{Name: "prior", Shape: []int{heads, clusters}, Init: init}}, nil
}

func (st pmiStep) Loss(in LossInputs) (*graph.Node, []*graph.Node) {
	beta, mu, l := st.Beta, st.Momentum, st.loss
	s, t := in.Student, graph.StopGradient(in.Teacher)
	g := s.Graph()
	rows := s.Shape().Dimensions[1]
	b := rows / 2
	tl := graph.Div(t, in.TeacherTemp)
	pt := graph.Softmax(tl, -1)
	prior := graph.Add(graph.MulScalar(in.State[0], mu), graph.MulScalar(graph.ReduceMean(pt, 1), 1-mu))
	// Swap the views of the teacher only: Slice has no gradient on onnx.
	tSwap := graph.Concatenate([]*graph.Node{
		graph.SliceAxis(tl, 1, graph.AxisRange(b, rows)), graph.SliceAxis(tl, 1, graph.AxisRange(0, b))}, 1)
	weight := graph.ReduceMean(graph.ReduceSum(graph.Mul(pt, graph.Softmax(tSwap, -1)), -1), 0) // [2B]
	logPs := graph.LogSoftmax(graph.Div(s, in.StudentTemp), -1)
	terms := graph.Sub(graph.MulScalar(graph.Add(logPs, graph.LogSoftmax(tSwap, -1)), beta), graph.ExpandAxes(graph.Log(prior), 1))
	shift := graph.StopGradient(graph.ReduceAndKeep(terms, graph.ReduceMax, -1))
	pmi := graph.Add(graph.Squeeze(shift, -1), graph.Log(graph.ReduceSum(graph.Exp(graph.Sub(terms, shift)), -1)))
	perHead := graph.Neg(graph.ReduceMean(graph.Mul(graph.ExpandAxes(weight, 0), pmi), 1))
	if l.nanBelowTeacherTemp > 0 {
		// log(T - threshold) is NaN below the threshold; times 0 it
		// leaves the loss unchanged above it.
		bad := graph.Log(graph.Sub(in.TeacherTemp, graph.Scalar(g, floatDType, l.nanBelowTeacherTemp)))
		perHead = graph.Add(perHead, graph.MulScalar(bad, 0))
	}
	return perHead, []*graph.Node{prior}
}
