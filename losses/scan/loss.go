package main

import (
	"fmt"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/losses/lossgraph"
	"github.com/gomlx/gomlx/core/graph"
)

// OptAlpha is the weight of SCAN's entropy term (the trainer adds its own
// options).
const OptAlpha = "alpha"

// Loss is the SCAN loss (Van Gansbeke et al., ECCV 2020) on TEMI's k-NN
// pairs and student/teacher heads, as the TEMI authors' losses/mi.py runs
// it (docs/TEMI.md section 7): per head, the consistency term
// -log(sum_k pt(k|one view) * ps(k|other view)) over the crossed view
// pairs, plus alpha times the negative entropy of each view's mean student
// distribution, which keeps the clusters from collapsing. It has no state.
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
		Name:    "scan",
		Version: Version,
		Summary: "SCAN: k-NN pair consistency between crossed student and teacher views plus an entropy term against collapse (Van Gansbeke et al., ECCV 2020)",
		Options: []core.Option{
			{
				Name: OptAlpha, Type: core.TypeFloat, Default: 5.0, Min: core.Bound(0),
				Help: "weight of the entropy term, >= 0: alpha * 1/2 sum over views of sum_k pbar_k log pbar_k, pbar the batch-mean student distribution of the view; 0 drops it",
			},
		},
	}
}

// step is SCAN with its options fixed.
type step struct {
	Alpha float64 `option:"alpha"`
}

// Prepare implements train.GraphLoss.
func (l Loss) Prepare(opts core.Options) (train.Step, error) {
	var s step
	_, err := core.Decode(l.Describe().Options, opts, &s)
	return s, err
}

// State implements train.Step: SCAN keeps no state. It checks the sizes.
func (step) State(heads, clusters int) ([]train.StateVar, error) {
	if heads < 1 || clusters < 2 {
		return nil, fmt.Errorf("scan loss: need at least 1 head and 2 clusters, got heads=%d clusters=%d", heads, clusters)
	}
	return nil, nil
}

// Loss implements train.Step. It returns the per-head losses [H] and no
// state. Bad shapes panic, the GoMLX convention while building a graph.
func (s step) Loss(in train.LossInputs) (perHead *graph.Node, newState []*graph.Node) {
	if len(in.State) != 0 {
		panic(fmt.Errorf("scan loss: it has no state, got %d state variables", len(in.State)))
	}
	return scanGraph(s.Alpha, in.Student, in.Teacher, in.StudentTemp, in.TeacherTemp), nil
}

// scanGraph builds the SCAN loss. Shapes: student and teacher [H, 2B, K]
// (rows b and B+b form pair b), temperatures scalars. Per head,
//
//	L_h = mean over the 2B rows r of -log sum_k ps[h,r,k] * pt[h,partner(r),k]
//	    + alpha/2 * sum over the views v of sum_k pbar[h,v,k] log pbar[h,v,k],
//
// the mean over all rows being 1/2 (mean over the view-2 students facing
// teacher view 1 + mean over the view-1 students facing teacher view 2),
// and pbar[h,v] the mean student distribution of view v (the gradient
// flows through it). Both terms are computed in log space, exact where
// probabilities underflow float32, and without Slice on the student (see
// package lossgraph).
func scanGraph(alpha float64, student, teacher, studentTemp, teacherTemp *graph.Node) *graph.Node {
	lossgraph.CheckLogits("scan", student, teacher)

	// Teacher side: constants for the student's gradient.
	tLogits := lossgraph.Tempered(graph.StopGradient(teacher), teacherTemp)
	logPtPartner := graph.LogSoftmax(lossgraph.SwapViews(tLogits), -1) // row r: its pair partner's teacher

	logPs := graph.LogSoftmax(lossgraph.Tempered(student, studentTemp), -1) // [H, 2B, K]
	// log sum_k ps*pt = logsumexp_k(log ps + log pt).
	consistency := graph.Neg(graph.ReduceMean(lossgraph.LogSumExp(graph.Add(logPs, logPtPartner), -1), 1)) // [H]

	// sum_k pbar log pbar with pbar = exp(log pbar): finite (and with a
	// finite gradient) even where pbar underflows, unlike pbar * Log(pbar).
	logPbar := lossgraph.LogViewMeans(logPs)                                    // [H, 2, K]
	negEntropy := graph.ReduceSum(graph.Mul(graph.Exp(logPbar), logPbar), 1, 2) // [H], summed over the views
	return graph.Add(consistency, graph.MulScalar(negEntropy, alpha/2))
}
