package main

import (
	"fmt"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/losses/internal/lossgraph"
	"github.com/clusterlab/clusterlab/losses/internal/lossopts"
	"github.com/gomlx/gomlx/core/graph"
)

// Option names of the TEMI loss (the trainer adds its own options).
const (
	OptBeta          = lossopts.OptBeta
	OptProbsMomentum = lossopts.OptProbsMomentum
	OptPositivePMI   = lossopts.OptPositivePMI
)

// StatePrior names the per-head cluster prior pi [H, K].
const StatePrior = lossopts.StatePrior

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
		Options: lossopts.PMIOptions("the plain weighted PMI", "the per-head cluster prior"),
	}
}

// params are the resolved loss options.
type params struct {
	beta, momentum float64
	positivePMI    bool
}

// resolveParams reads the loss options, filling in defaults for the ones
// absent (the trainer may hand a map holding only what the user set), and
// validates the bounds the schema cannot express (beta > 0, momentum < 1).
func resolveParams(opts core.Options) (params, error) {
	p, _, err := lossopts.ResolvePMI("temi", Loss{}.Describe().Options, opts)
	return params{beta: p.Beta, momentum: p.Momentum, positivePMI: p.PositivePMI}, err
}

// State implements train.GraphLoss: one cluster prior per head, uniform.
func (Loss) State(opts core.Options, heads, clusters int) ([]train.StateVar, error) {
	if _, err := resolveParams(opts); err != nil {
		return nil, err
	}
	return lossopts.UniformPrior("temi", heads, clusters)
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

// lossParts are the nodes of one TEMI step; weight is kept for the tests.
type lossParts struct {
	perHead *graph.Node // [H]
	prior   *graph.Node // [H, K], updated
	weight  *graph.Node // [2B]: the pair weight of each row (rows b and B+b share w_b)
}

func (Loss) build(in train.LossInputs) lossParts {
	p, err := resolveParams(in.Options)
	if err != nil {
		panic(err)
	}
	if len(in.State) != 1 {
		panic(fmt.Errorf("temi loss: want 1 state variable (%s), got %d", StatePrior, len(in.State)))
	}
	return temiGraph(p, in.Student, in.Teacher, in.StudentTemp, in.TeacherTemp, in.State[0])
}

// temiGraph builds the TEMI loss. Shapes: student and teacher [H, 2B, K]
// (rows b and B+b form pair b), temperatures scalars, prior [H, K].
//
// The pieces (package lossgraph) are exact in log space, where
// (p*q)^beta / pi = exp(beta*(log p + log q) - log pi) stays finite when
// probabilities underflow float32, and slice only the teacher: the
// crossed pairs (student view 2 with teacher view 1, student view 1 with
// teacher view 2) are the student rows against the teacher rows swapped
// by view, so each head's loss is the mean over all 2B rows of -w*pmi;
// the weight, being symmetric in the two views, is the same for row b and
// row B+b. The onnx backend cannot differentiate Slice.
func temiGraph(p params, student, teacher, studentTemp, teacherTemp, prior *graph.Node) lossParts {
	c := lossgraph.NewCrossedPMI("temi", student, teacher, studentTemp, teacherTemp, prior, p.beta, p.momentum, p.positivePMI)
	// The pair weight: the probability, averaged over all heads, that the
	// two views of the pair fall in the same cluster. No gradient.
	weight := graph.ReduceMean(c.Agreement, 0)                                               // [2B]
	perHead := graph.Neg(graph.ReduceMean(graph.Mul(graph.ExpandAxes(weight, 0), c.PMI), 1)) // [H]
	return lossParts{perHead: perHead, prior: c.Prior, weight: weight}
}
