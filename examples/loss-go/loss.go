package main

import (
	"github.com/gomlx/gomlx/core/graph"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/losses/lossgraph"
)

// Loss is Invariant Information Clustering (Ji et al., ICCV 2019) on the
// k-NN pairs of frozen features: per head, minus the mutual information of
// the cluster assignments of the two views of a pair,
//
//	P    = sym(mean over rows r of ps[r] (x) pt[partner(r)])   [K, K]
//	loss = -sum_kl P_kl (log P_kl - lambda log P_k. - lambda log P_.l)
//
// with ps the student's and pt the teacher's cluster probabilities. lambda
// = 1 is IIC; above 1 it favours balanced clusters more. The shared
// trainer does the rest (heads, teacher, AdamW, checkpoints).
type Loss struct{}

// Describe names the loss and declares its one option.
func (Loss) Describe() core.Description {
	return core.Description{
		Kind: core.KindLoss, Name: "iic", Version: "0.1.0",
		Summary: "IIC: mutual information of the cluster assignments of k-NN pairs (Ji et al., ICCV 2019)",
		Options: []core.Option{{
			Name: "lambda", Type: core.TypeFloat, Default: 1.0, Min: core.Bound(0),
			Help: "weight of the marginal entropies; 1 is IIC's mutual information",
		}},
	}
}

// step is IIC with its option fixed.
type step struct {
	Lambda float64 `option:"lambda"`
}

// Prepare reads the options once into a typed step.
func (l Loss) Prepare(opts core.Options) (train.Step, error) {
	var s step
	_, err := core.Decode(l.Describe().Options, opts, &s)
	return s, err
}

// State: IIC keeps none.
func (step) State(heads, clusters int) ([]train.StateVar, error) {
	_, err := lossgraph.UniformPrior("iic", heads, clusters) // checks the sizes
	return nil, err
}

// Loss is the per-head loss [H] of one step.
func (s step) Loss(in train.LossInputs) (*graph.Node, []*graph.Node) {
	d := lossgraph.CheckLogits("iic", in.Student, in.Teacher)
	ps := graph.Softmax(lossgraph.Tempered(in.Student, in.StudentTemp), -1)                      // [H, 2B, K]
	pt := graph.Softmax(lossgraph.Tempered(lossgraph.SwapViews(in.Teacher), in.TeacherTemp), -1) // partner rows, no gradient
	joint := graph.MulScalar(graph.Einsum("hrk,hrl->hkl", ps, pt), 1/float64(2*d.Batch))         // [H, K, K]
	joint = graph.MulScalar(graph.Add(joint, graph.TransposeAllDims(joint, 0, 2, 1)), 0.5)
	const floor = 1e-12 // keeps log finite where a pair of clusters never meets
	logP := graph.Log(graph.MaxScalar(joint, floor))
	logRows := graph.Log(graph.MaxScalar(graph.ReduceAndKeep(joint, graph.ReduceSum, 2), floor)) // [H, K, 1]
	logCols := graph.Log(graph.MaxScalar(graph.ReduceAndKeep(joint, graph.ReduceSum, 1), floor)) // [H, 1, K]
	pmi := graph.Sub(logP, graph.MulScalar(graph.Add(logRows, logCols), s.Lambda))
	return graph.Neg(graph.ReduceSum(graph.Mul(joint, pmi), 1, 2)), nil
}
