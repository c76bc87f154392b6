package main

import (
	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/losses/lossgraph"
	"github.com/gomlx/gomlx/core/graph"
)

// OptWeight is the PMI loss's own option (it shares beta, probs_momentum
// and positive_pmi with TEMI, lossgraph.PMIOptions; the trainer adds its
// options).
const OptWeight = "weight"

// Choices of OptWeight.
const (
	// WeightNone is PMI: every pair counts alike.
	WeightNone = "none"
	// WeightHead is WMI: each head weighs its pair terms by its own
	// teacher's probability that the two views share a cluster.
	WeightHead = "head"
)

// Loss is the PMI ablation of TEMI (docs/TEMI.md section 7, the authors'
// losses/mi.py PMI and WMI classes) as a train.GraphLoss: per head, the
// mean prior-normalised beta-PMI between crossed student and teacher views
// of k-NN pairs, each head with its own EMA prior, no pair weight. With
// weight=head it is WMI: each head's terms are weighted by that head's own
// pair agreement (TEMI averages the agreement over heads instead).
//
// The zero value is ready to use.
type Loss struct{}

var _ train.GraphLoss = Loss{}

// Version changes whenever the loss would compute different numbers.
const Version = "1.0.0"

// Describe implements train.GraphLoss.
func (Loss) Describe() core.Description {
	return core.Description{
		Kind:    core.KindLoss,
		Name:    "pmi",
		Version: Version,
		Summary: "PMI: per-head prior-normalised beta-PMI self-distillation on k-NN pairs, no pair weight (weight=head gives WMI)",
		Options: append(lossgraph.PMIOptions("the plain PMI", "each head's cluster prior"), core.Option{
			Name: OptWeight, Type: core.TypeString, Default: WeightNone, Choices: []string{WeightNone, WeightHead},
			Help: "pair weight: none (PMI) or head (WMI: each head weighs a pair by sum_k pt(k|view1)*pt(k|view2) of its own teacher)",
		}),
	}
}

// step is PMI (or WMI) with its options fixed.
type step struct {
	lossgraph.PMIParams
	Weight string `option:"weight"`
}

// Prepare implements train.GraphLoss.
func (l Loss) Prepare(opts core.Options) (train.Step, error) {
	var s step
	if _, err := core.Decode(l.Describe().Options, opts, &s); err != nil {
		return nil, err
	}
	return s, s.Check()
}

// State implements train.Step: one cluster prior per head, uniform.
func (step) State(heads, clusters int) ([]train.StateVar, error) {
	return lossgraph.UniformPrior("pmi", heads, clusters)
}

// Loss implements train.Step. It returns the per-head losses [H] and the
// updated prior [H, K].
func (s step) Loss(in train.LossInputs) (perHead *graph.Node, newState []*graph.Node) {
	parts := s.build(in)
	return parts.perHead, []*graph.Node{parts.prior}
}

// lossParts are the nodes of one step; weight is kept for the tests.
type lossParts struct {
	perHead *graph.Node // [H]
	prior   *graph.Node // [H, K], updated
	weight  *graph.Node // [H, 2B] per-head pair weight (WMI); nil for PMI
}

func (s step) build(in train.LossInputs) lossParts {
	return pmiGraph(s, in.Student, in.Teacher, in.StudentTemp, in.TeacherTemp, lossgraph.OneState("pmi", in.State))
}

// pmiGraph builds the PMI (or WMI) loss. Shapes: student and teacher
// [H, 2B, K] (rows b and B+b form pair b), temperatures scalars, prior
// [H, K]. Each head's loss is
//
//	L_h = -mean over the 2B rows r of w_h[r] * pmi_h[r],
//
// the mean over all rows being 1/2 (mean over the view-2 students facing
// teacher view 1 + mean over the view-1 students facing teacher view 2);
// w = 1 for PMI. The pieces are exact in log space and safe on the onnx
// backend (see package lossgraph).
func pmiGraph(p step, student, teacher, studentTemp, teacherTemp, prior *graph.Node) lossParts {
	c := lossgraph.NewCrossedPMI("pmi", student, teacher, studentTemp, teacherTemp, prior, p.Beta, p.Momentum, p.PositivePMI)
	pmi := c.PMI // [H, 2B]; w = 1 for PMI
	parts := lossParts{prior: c.Prior}
	if p.Weight == WeightHead {
		parts.weight = c.Agreement // WMI: each head's own pair agreement
		pmi = graph.Mul(parts.weight, pmi)
	}
	parts.perHead = graph.Neg(graph.ReduceMean(pmi, 1))
	return parts
}
