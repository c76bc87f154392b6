package main

import (
	"fmt"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/losses/internal/lossgraph"
	"github.com/clusterlab/clusterlab/losses/internal/lossopts"
	"github.com/gomlx/gomlx/core/graph"
)

// Option names of the PMI loss (the trainer adds its own options).
const (
	OptBeta          = lossopts.OptBeta
	OptProbsMomentum = lossopts.OptProbsMomentum
	OptPositivePMI   = lossopts.OptPositivePMI
	OptWeight        = "weight"
)

// Choices of OptWeight.
const (
	// WeightNone is PMI: every pair counts alike.
	WeightNone = "none"
	// WeightHead is WMI: each head weighs its pair terms by its own
	// teacher's probability that the two views share a cluster.
	WeightHead = "head"
)

// StatePrior names the per-head cluster prior pi [H, K].
const StatePrior = lossopts.StatePrior

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
		Options: append(lossopts.PMIOptions("the plain PMI", "each head's cluster prior"), core.Option{
			Name: OptWeight, Type: core.TypeString, Default: WeightNone, Choices: []string{WeightNone, WeightHead},
			Help: "pair weight: none (PMI) or head (WMI: each head weighs a pair by sum_k pt(k|view1)*pt(k|view2) of its own teacher)",
		}),
	}
}

// params are the resolved loss options.
type params struct {
	beta, momentum float64
	positivePMI    bool
	weight         string
}

// resolveParams reads the loss options, filling in defaults for the ones
// absent, and validates the bounds the schema cannot express (beta > 0,
// momentum < 1).
func resolveParams(opts core.Options) (params, error) {
	p, resolved, err := lossopts.ResolvePMI("pmi", Loss{}.Describe().Options, opts)
	if err != nil {
		return params{}, err
	}
	return params{beta: p.Beta, momentum: p.Momentum, positivePMI: p.PositivePMI, weight: resolved.String(OptWeight)}, nil
}

// State implements train.GraphLoss: one cluster prior per head, uniform.
func (Loss) State(opts core.Options, heads, clusters int) ([]train.StateVar, error) {
	if _, err := resolveParams(opts); err != nil {
		return nil, err
	}
	return lossopts.UniformPrior("pmi", heads, clusters)
}

// Loss implements train.GraphLoss. It returns the per-head losses [H] and
// the updated prior [H, K].
//
// Invalid options or shapes panic with an error, the GoMLX convention while
// building a graph: graph.Exec turns it into an error. State has already
// validated the options when the trainer calls this.
func (l Loss) Loss(in train.LossInputs) (perHead *graph.Node, newState []*graph.Node) {
	parts := l.build(in)
	return parts.perHead, []*graph.Node{parts.prior}
}

// lossParts are the nodes of one step; weight is kept for the tests.
type lossParts struct {
	perHead *graph.Node // [H]
	prior   *graph.Node // [H, K], updated
	weight  *graph.Node // [H, 2B] per-head pair weight (WMI); nil for PMI
}

func (Loss) build(in train.LossInputs) lossParts {
	p, err := resolveParams(in.Options)
	if err != nil {
		panic(err)
	}
	if len(in.State) != 1 {
		panic(fmt.Errorf("pmi loss: want 1 state variable (%s), got %d", StatePrior, len(in.State)))
	}
	return pmiGraph(p, in.Student, in.Teacher, in.StudentTemp, in.TeacherTemp, in.State[0])
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
func pmiGraph(p params, student, teacher, studentTemp, teacherTemp, prior *graph.Node) lossParts {
	c := lossgraph.NewCrossedPMI("pmi", student, teacher, studentTemp, teacherTemp, prior, p.beta, p.momentum, p.positivePMI)
	pmi := c.PMI // [H, 2B]; w = 1 for PMI
	parts := lossParts{prior: c.Prior}
	if p.weight == WeightHead {
		parts.weight = c.Agreement // WMI: each head's own pair agreement
		pmi = graph.Mul(parts.weight, pmi)
	}
	parts.perHead = graph.Neg(graph.ReduceMean(pmi, 1))
	return parts
}
