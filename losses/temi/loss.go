package main

import (
	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/losses/lossgraph"
	"github.com/gomlx/gomlx/core/graph"
)

// Loss is TEMI (Adaloglou et al., BMVC 2023) as a train.GraphLoss: the
// head-averaged, prior-normalised beta-PMI between crossed student and
// teacher views of k-NN pairs. See docs/TEMI.md sections 6-7.
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
		Name:    "temi",
		Version: Version,
		Summary: "TEMI: head-averaged weighted beta-PMI self-distillation on k-NN pairs (Adaloglou et al., BMVC 2023)",
		Options: lossgraph.PMIOptions("the plain weighted PMI", "the per-head cluster prior"),
	}
}

// step is TEMI with its options fixed.
type step struct {
	lossgraph.PMIParams
}

// Prepare implements train.GraphLoss.
func (l Loss) Prepare(opts core.Options) (train.Step, error) {
	var s step
	if _, err := core.Decode(l.Describe().Options, opts, &s.PMIParams); err != nil {
		return nil, err
	}
	return s, s.Check()
}

// State implements train.Step: one cluster prior per head, uniform.
func (step) State(heads, clusters int) ([]train.StateVar, error) {
	return lossgraph.UniformPrior("temi", heads, clusters)
}

// Loss implements train.Step. It returns the per-head losses [H] and the
// updated prior [H, K].
func (s step) Loss(in train.LossInputs) (perHead *graph.Node, newState []*graph.Node) {
	parts := s.build(in)
	return parts.perHead, []*graph.Node{parts.prior}
}

// lossParts are the nodes of one TEMI step; weight is kept for the tests.
type lossParts struct {
	perHead *graph.Node // [H]
	prior   *graph.Node // [H, K], updated
	weight  *graph.Node // [2B]: the pair weight of each row (rows b and B+b share w_b)
}

// build builds the TEMI loss. Shapes: student and teacher [H, 2B, K] (rows
// b and B+b form pair b), temperatures scalars, the prior state [H, K].
//
// The pieces (package lossgraph) are exact in log space, where
// (p*q)^beta / pi = exp(beta*(log p + log q) - log pi) stays finite when
// probabilities underflow float32, and slice only the teacher: the
// crossed pairs (student view 2 with teacher view 1, student view 1 with
// teacher view 2) are the student rows against the teacher rows swapped
// by view, so each head's loss is the mean over all 2B rows of -w*pmi;
// the weight, being symmetric in the two views, is the same for row b and
// row B+b. The onnx backend cannot differentiate Slice.
func (s step) build(in train.LossInputs) lossParts {
	c := lossgraph.NewCrossedPMI("temi", in.Student, in.Teacher, in.StudentTemp, in.TeacherTemp, lossgraph.OneState("temi", in.State), s.Beta, s.Momentum, s.PositivePMI)
	// The pair weight: the probability, averaged over all heads, that the
	// two views of the pair fall in the same cluster. No gradient.
	weight := graph.ReduceMean(c.Agreement, 0)                                               // [2B]
	perHead := graph.Neg(graph.ReduceMean(graph.Mul(graph.ExpandAxes(weight, 0), c.PMI), 1)) // [H]
	return lossParts{perHead: perHead, prior: c.Prior, weight: weight}
}
