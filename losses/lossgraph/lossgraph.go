// Package lossgraph holds the GoMLX graph pieces loss plugins share, the
// shipped ones (TEMI, PMI/WMI, SCAN) and yours: shape checks, tempered
// log-probabilities, the swap of the two views of a pair, a shifted
// log-sum-exp, the EMA cluster prior, the pointwise beta-PMI and the
// crossed PMI of TEMI's family (CrossedPMI), with their option schema
// (PMIOptions, PMIParams) and initial state (UniformPrior).
//
// Every piece is built so that it is exact and differentiable on all the
// backends of docs/ARCHITECTURE.md section 5, the onnx one included:
//
//   - Log space. Probabilities underflow float32 at sharp temperatures
//     (teacher temperature 0.05 gives values below 1e-38), and Pow(0, beta)
//     or Log(0) then give infinite values and NaN gradients. Sums of
//     products of probabilities are log-sum-exps of sums of
//     log-probabilities instead.
//   - No Slice on a node that carries gradient: the onnx backend cannot
//     differentiate Slice (its gradient needs Pad). Only gradient-free
//     nodes (the teacher) are sliced; student quantities per view use
//     Reshape, whose gradient is a Reshape.
//
// Functions that build graphs panic with an error on bad shapes, the GoMLX
// convention: graph.Exec turns the panic into an error.
package lossgraph

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/graph"
)

// Dims are the dimensions of a step's logits [Heads, 2*Batch, Clusters]:
// view 1 (rows 0..B-1) then view 2 (rows B..2B-1).
type Dims struct {
	Heads, Batch, Clusters int
}

// CheckLogits checks that student and teacher are both [H, 2B, K] with an
// even number of rows and returns the dimensions. loss names the loss in
// the error.
func CheckLogits(loss string, student, teacher *graph.Node) Dims {
	if student.Rank() != 3 || !student.Shape().Equal(teacher.Shape()) {
		panic(fmt.Errorf("%s loss: student %s and teacher %s must both be [heads, 2*batch, clusters]", loss, student.Shape(), teacher.Shape()))
	}
	d := student.Shape().Dimensions
	if d[1]%2 != 0 {
		panic(fmt.Errorf("%s loss: %d rows is odd; want 2*batch rows (view 1 then view 2)", loss, d[1]))
	}
	if d[1] == 0 || d[2] < 2 {
		panic(fmt.Errorf("%s loss: logits %s; want at least one pair and two clusters", loss, student.Shape()))
	}
	return Dims{Heads: d[0], Batch: d[1] / 2, Clusters: d[2]}
}

// CheckPrior checks that prior is [H, K].
func CheckPrior(loss string, prior *graph.Node, d Dims) {
	if prior.Rank() != 2 || prior.Shape().Dimensions[0] != d.Heads || prior.Shape().Dimensions[1] != d.Clusters {
		panic(fmt.Errorf("%s loss: prior %s, want [%d, %d]", loss, prior.Shape(), d.Heads, d.Clusters))
	}
}

// Tempered returns logits / temp, temp being a scalar node that receives
// no gradient (the trainer's temperature schedule), converted to the
// logits' dtype.
func Tempered(logits, temp *graph.Node) *graph.Node {
	return graph.Div(logits, graph.ConvertDType(graph.StopGradient(temp), logits.DType()))
}

// SwapViews returns x [H, 2B, ...] with the two views exchanged along axis
// 1, so that row r of the result is the pair partner of row r of x (row b
// faces row B+b and back). It stops the gradient of x: the onnx backend
// cannot differentiate the Slice this needs, so only pass nodes that carry
// no gradient anyway (the teacher).
func SwapViews(x *graph.Node) *graph.Node {
	rows := x.Shape().Dimensions[1]
	x = graph.StopGradient(x)
	return graph.Concatenate([]*graph.Node{
		graph.SliceAxis(x, 1, graph.AxisRange(rows/2, rows)),
		graph.SliceAxis(x, 1, graph.AxisRange(0, rows/2)),
	}, 1)
}

// LogSumExp returns log(sum(exp(x))) over axis (the axis is removed),
// shifted by the maximum for range. The shift carries no gradient: the
// result does not depend on it, and the maximum's gradient would only add
// rounding.
func LogSumExp(x *graph.Node, axis int) *graph.Node {
	shift := graph.StopGradient(graph.ReduceAndKeep(x, graph.ReduceMax, axis))
	return graph.Add(graph.Squeeze(shift, axis), graph.Log(graph.ReduceSum(graph.Exp(graph.Sub(x, shift)), axis)))
}

// LogViewMeans returns the log of the mean probability of each view,
// log(mean_b p[h, v*B+b, k]) for v = 0, 1, as [H, 2, K], from the
// log-probabilities [H, 2B, K]. It keeps the gradient (Reshape, not Slice)
// and is exact where a cluster's mean probability underflows float32.
func LogViewMeans(logP *graph.Node) *graph.Node {
	d := logP.Shape().Dimensions
	perView := graph.Reshape(logP, d[0], 2, d[1]/2, d[2])
	return graph.AddScalar(LogSumExp(perView, 2), -math.Log(float64(d[1]/2)))
}

// EMAPrior returns TEMI's prior update (docs/TEMI.md section 6), prior
// [H, K] <- momentum*prior + (1-momentum)*(mean of the 2B rows of probs
// [H, 2B, K]), without gradient.
func EMAPrior(prior, probs *graph.Node, momentum float64) *graph.Node {
	mu := graph.Scalar(prior.Graph(), prior.DType(), momentum)
	return graph.StopGradient(graph.Add(graph.Mul(mu, prior), graph.Mul(graph.OneMinus(mu), graph.ReduceMean(probs, 1))))
}

// PriorFloor bounds the prior away from 0 inside the log. A prior entry
// only gets there when its cluster's teacher probability has been about 0
// for hundreds of steps (it shrinks by at most the momentum per step); the
// floor keeps the loss finite instead of failing the run (the authors'
// division would give inf or NaN there).
const PriorFloor = 1e-30

// PMI returns the pointwise beta-PMI of every row [H, 2B],
//
//	pmi[h, r] = log sum_k (ps[h,r,k] * pt~[h,r,k])^beta / prior[h,k]
//	          = logsumexp_k(beta*(logPs + logPtPartner) - log prior),
//
// from the student log-probabilities logPs [H, 2B, K], the teacher
// log-probabilities of each row's pair partner logPtPartner [H, 2B, K]
// and the prior [H, K] (floored at PriorFloor). Only the product p*q is
// raised to beta, not the prior (docs/TEMI.md section 7).
func PMI(logPs, logPtPartner, prior *graph.Node, beta float64) *graph.Node {
	logPrior := graph.ExpandAxes(graph.Log(graph.MaxScalar(prior, PriorFloor)), 1) // [H, 1, K]
	terms := graph.Sub(graph.MulScalar(graph.Add(logPs, logPtPartner), beta), logPrior)
	return LogSumExp(terms, -1)
}

// Agreement returns, for every head and row, the probability that the row
// and its pair partner fall in the same cluster,
// sum_k pt[h,r,k] * ptPartner[h,r,k], as [H, 2B] without gradient. Rows b
// and B+b get the same value. WMI weighs each head's terms by it; TEMI by
// its mean over heads.
func Agreement(pt, ptPartner *graph.Node) *graph.Node {
	return graph.StopGradient(graph.ReduceSum(graph.Mul(pt, ptPartner), -1))
}

// CrossedPMI is what the prior-normalised beta-PMI losses (TEMI, PMI, WMI)
// share: the per-head prior updated first from the teacher, then the
// pointwise PMI of each student row against its pair partner's teacher row.
type CrossedPMI struct {
	PMI       *graph.Node // [H, 2B]; clipped at 0 when positive
	Prior     *graph.Node // [H, K], updated
	Agreement *graph.Node // [H, 2B] sum_k pt(k|row) * pt(k|partner), no gradient
}

// NewCrossedPMI builds CrossedPMI for student and teacher logits [H, 2B, K]
// (rows b and B+b form pair b), scalar temperatures and the prior [H, K].
// The teacher carries no gradient; only the teacher is sliced, so the onnx
// backend can differentiate it.
func NewCrossedPMI(loss string, student, teacher, studentTemp, teacherTemp, prior *graph.Node, beta, momentum float64, positive bool) CrossedPMI {
	d := CheckLogits(loss, student, teacher)
	CheckPrior(loss, prior, d)
	tLogits := Tempered(graph.StopGradient(teacher), teacherTemp)
	pt := graph.Softmax(tLogits, -1) // [H, 2B, K]
	// Prior update first: the loss of this step uses the updated prior.
	newPrior := EMAPrior(prior, pt, momentum)
	tPartner := SwapViews(tLogits) // row r: its pair partner's teacher logits
	logPs := graph.LogSoftmax(Tempered(student, studentTemp), -1)
	pmi := PMI(logPs, graph.LogSoftmax(tPartner, -1), newPrior, beta)
	if positive {
		pmi = graph.MaxScalar(pmi, 0.0)
	}
	return CrossedPMI{PMI: pmi, Prior: newPrior, Agreement: Agreement(pt, graph.Softmax(tPartner, -1))}
}
