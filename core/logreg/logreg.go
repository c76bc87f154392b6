// Package logreg fits L2-regularised multinomial logistic regression the way
// scikit-learn 1.2.1's LogisticRegression(solver="lbfgs") does, so that
// label-free scores built on it (TURTLE's generalization score, linear
// probes) can be compared with numbers computed in Python.
//
// The objective is sklearn's, unscaled: the sum over samples of the
// cross-entropy plus 0.5/C times the squared norm of the weights (the
// intercept is not penalised). With exactly two classes sklearn fits one
// binomial weight vector (class 1 against class 0) instead of two softmax
// rows, which changes the penalty and hence the solution; Fit does the same.
// It is minimised from zero with L-BFGS in float64 (gonum's optimize).
//
// The optimiser is set up as scipy's L-BFGS-B, which sklearn calls: 10
// stored pairs, Moré–Thuente line search (sufficient decrease 1e-3,
// curvature 0.9), first step 1/||g||, stop when the largest absolute
// gradient entry falls below Tol (scipy: at most pgtol; no bounds, so the
// projected gradient is the gradient), when the relative decrease of the
// objective is at most 1e7 machine epsilons (scipy's default factr), or
// after MaxIter iterations. On the fixture the iterates agree with
// sklearn's to about 1e-9 in the weights, with the same iteration counts,
// including fits stopped by max_iter. Differences left: scipy also stops at
// 15000 function evaluations (never reached here), and where scipy's line
// search fails it returns ABNORMAL_TERMINATION while gonum reports an error;
// Fit then keeps the best point, as sklearn does, with Converged false.
//
// Speed. Each evaluation of the objective is two matrix products over all
// rows (scores X W^T, gradient G^T X) and a softmax. The products run in
// OpenBLAS's dgemm (what numpy, hence sklearn, uses), single-threaded, on
// tiles of 1024 rows in the layouts OpenBLAS is fastest at; the softmax in
// C; the rows are cut into ranges that GOMAXPROCS workers take in turn.
// CrossValidate fits its folds together: the fits' L-BFGS runs stay
// separate, but each pass over the data evaluates all of them at once with
// their weights stacked (batch.go), which makes the products wide enough
// to be compute-bound at K = 10. Options.Float32 computes the products in
// sgemm instead (about 1.6x to 1.8x faster at 50000 x 768 x 100); on the
// fixtures the objective then lands within 4e-7 (relative) of sklearn's
// and the predictions are identical, but convergence is decided on noisier
// values (line searches end earlier, iteration counts differ).
//
// Building needs cgo and Debian's libopenblas-dev (linked statically:
// binaries need no OpenBLAS at run time).
package logreg

import (
	"context"
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"

	"github.com/clusterlab/clusterlab/core"
)

// Options are LogisticRegression's settings that matter here. The zero value
// means sklearn's defaults: C = 1, max_iter = 100, tol = 1e-4, with an
// intercept.
type Options struct {
	// C is the inverse regularisation strength (sklearn's C); 0 means 1.
	C float64
	// MaxIter caps L-BFGS iterations (sklearn's max_iter); 0 means 100.
	MaxIter int
	// Tol stops when the largest absolute gradient entry is at most Tol
	// (sklearn's tol, scipy's pgtol); 0 means 1e-4.
	Tol float64
	// NoIntercept fits without intercept (sklearn's fit_intercept=False).
	// It is a negative so that the zero Options keeps sklearn's default.
	NoIntercept bool
	// Threads is the number of workers computing the objective (each
	// taking ranges of rows in turn, single-threaded OpenBLAS); 0 means
	// GOMAXPROCS. Results are the same for 1 to 8 workers (the rows are
	// cut into max(8, Threads) ranges summed in order).
	Threads int
	// Float32 computes the two matrix products of each evaluation in
	// float32 (OpenBLAS sgemm: about twice as fast, half the memory for
	// the rows), everything else in float64 as before. The products then
	// carry about 1e-6 relative error, so the L-BFGS path drifts from
	// scipy's and fits stopped by max_iter or by the objective test end
	// at slightly different points (see the package doc for the measured
	// agreement with sklearn). Off by default: sklearn computes in
	// float64.
	Float32 bool
}

func (o Options) withDefaults() (Options, error) {
	if o.C == 0 {
		o.C = 1
	}
	if o.MaxIter == 0 {
		o.MaxIter = 100
	}
	if o.Tol == 0 {
		o.Tol = 1e-4
	}
	if !(o.C > 0) || math.IsInf(o.C, 0) {
		return o, core.OptionFault("C", fmt.Errorf("logreg: C must be a positive finite number, got %v", o.C))
	}
	if o.MaxIter < 0 {
		return o, core.OptionFault("max_iter", fmt.Errorf("logreg: max_iter must be positive, got %d", o.MaxIter))
	}
	if !(o.Tol > 0) || math.IsInf(o.Tol, 0) {
		return o, core.OptionFault("tol", fmt.Errorf("logreg: tol must be a positive finite number, got %v", o.Tol))
	}
	if o.Threads < 0 {
		return o, core.OptionFault("threads", fmt.Errorf("logreg: threads must be 0 (all cores) or more, got %d", o.Threads))
	}
	return o, nil
}

// Model is a fitted regression.
type Model struct {
	// K is the number of labels the model answers for (Proba's width); D
	// the number of features.
	K, D int
	// Classes are the labels present in the training data, ascending: the
	// only ones the model can predict (as sklearn's classes_).
	Classes []int32
	// Coef is row-major with D columns and, as sklearn's coef_, one row per
	// class in Classes, or a single row (for Classes[1]) when there are two.
	Coef []float64
	// Intercept has one entry per Coef row (zeros without intercept).
	Intercept []float64
	// Loss is the objective at the returned weights (see the package doc).
	Loss float64
	// Iterations is the number of L-BFGS iterations (sklearn's n_iter_).
	Iterations int
	// Converged is false when MaxIter stopped the fit (sklearn then warns
	// with ConvergenceWarning) or the line search gave up.
	Converged bool
	// Status is gonum's termination status, for logs.
	Status string
}

// Fit fits the regression to x (n rows of d features, row-major) and labels
// y in [0, k). At least two labels must occur in y.
func Fit(ctx context.Context, x []float32, n, d int, y []int32, k int, opt Options) (*Model, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkData(x, n, d, y, k); err != nil {
		return nil, err
	}
	ds := newDataset(x, n, d, y, k, make([]int32, n), opt.Float32)
	j, err := newJob(ds, 0, -1, opt)
	if err != nil {
		return nil, core.InvalidInput(err)
	}
	b := newBatch(ds, opt.Threads)
	r := b.run(ctx, []*job{j}, opt, nil)[0]
	return finish(ctx, j, r)
}

// finish turns a job's L-BFGS result into a Model.
func finish(ctx context.Context, j *job, r fitResult) (*Model, error) {
	if cerr := ctx.Err(); cerr != nil {
		return nil, fmt.Errorf("logreg: fit interrupted: %w", cerr)
	}
	res, err := r.res, r.err
	converged := true
	if err != nil {
		// A line search that cannot make progress is how scipy also ends
		// near an optimum in floating point (ABNORMAL_TERMINATION_IN_LNSRCH);
		// sklearn only warns, so keep the best point found.
		if res == nil || !(errors.Is(err, optimize.ErrLinesearcherFailure) || errors.Is(err, optimize.ErrNoProgress)) {
			return nil, fmt.Errorf("logreg: L-BFGS failed: %w", err)
		}
		converged = false
	}
	if res.Status == optimize.IterationLimit {
		converged = false
	}
	d := j.d
	m := &Model{K: len(j.cls), D: d, Classes: j.classes, Iterations: max(res.MajorIterations-1, 0),
		Converged: converged, Status: res.Status.String(), Loss: res.F}
	m.Coef = append([]float64(nil), res.X[:j.rows*d]...)
	m.Intercept = make([]float64, j.rows)
	if j.intercept {
		copy(m.Intercept, res.X[j.rows*d:])
	}
	return m, nil
}

func toFloat64(x []float32) []float64 {
	xd := make([]float64, len(x))
	for i, v := range x {
		xd[i] = float64(v)
	}
	return xd
}

func checkData(x []float32, n, d int, y []int32, k int) error {
	if n <= 0 || d <= 0 {
		return core.InvalidInput(fmt.Errorf("logreg: need at least one sample and one feature, got n=%d d=%d", n, d))
	}
	if len(x) != n*d {
		return core.InvalidInput(fmt.Errorf("logreg: x has %d values, want n*d = %d*%d", len(x), n, d))
	}
	if len(y) != n {
		return core.InvalidInput(fmt.Errorf("logreg: %d labels for %d samples", len(y), n))
	}
	if k < 2 {
		return core.InvalidInput(fmt.Errorf("logreg: need at least 2 classes, got k=%d", k))
	}
	for i, v := range y {
		if v < 0 || int(v) >= k {
			return core.InvalidInput(fmt.Errorf("logreg: label %d of sample %d is outside [0, %d)", v, i, k))
		}
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return core.InvalidInput(fmt.Errorf("logreg: feature %d of sample %d is %v; remove or impute non-finite values", i%d, i/d, v))
		}
	}
	return nil
}

// ctxRecorder stops Minimize at the first evaluation or iteration after
// ctx is done.
type ctxRecorder struct{ ctx context.Context }

func (r *ctxRecorder) Init() error { return r.ctx.Err() }
func (r *ctxRecorder) Record(*optimize.Location, optimize.Operation, *optimize.Stats) error {
	return r.ctx.Err()
}

// scipyConverger is L-BFGS-B's factr test with scipy's default ftol
// (factr 1e7 times machine epsilon): stop when
// (f_prev - f) <= ftol * max(|f_prev|, |f|, 1).
type scipyConverger struct {
	started bool
	prev    float64
}

const scipyFtol = 1e7 * 2.220446049250313e-16

func (c *scipyConverger) Init(int) { c.started = false }
func (c *scipyConverger) Converged(l *optimize.Location) optimize.Status {
	f := l.F
	if !c.started {
		c.started, c.prev = true, f
		return optimize.NotTerminated
	}
	scale := math.Max(math.Max(math.Abs(c.prev), math.Abs(f)), 1)
	done := c.prev-f <= scipyFtol*scale
	c.prev = f
	if done {
		return optimize.FunctionConvergence
	}
	return optimize.NotTerminated
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// decision writes the raw scores of the n rows of x for each Coef row.
func (m *Model) decision(x []float64, n int) ([]float64, int) {
	rows := len(m.Intercept)
	z := make([]float64, n*rows)
	initBLAS()
	decision(x, n, m.D, m.Coef, m.Intercept, rows, z)
	return z, rows
}

func (m *Model) checkX(x []float32, n int) error {
	if n < 0 || len(x) != n*m.D {
		return core.InvalidInput(fmt.Errorf("logreg: x has %d values, want n*d = %d*%d", len(x), n, m.D))
	}
	return nil
}

// Predict returns the most probable label of each of the n rows of x
// (ties to the lowest label, as numpy's argmax).
func (m *Model) Predict(x []float32, n int) ([]int32, error) {
	if err := m.checkX(x, n); err != nil {
		return nil, err
	}
	return m.predict(toFloat64(x), n), nil
}

func (m *Model) predict(x []float64, n int) []int32 {
	z, rows := m.decision(x, n)
	out := make([]int32, n)
	for i := 0; i < n; i++ {
		zi := z[i*rows : (i+1)*rows]
		if rows == 1 {
			out[i] = m.Classes[0]
			if zi[0] > 0 {
				out[i] = m.Classes[1]
			}
			continue
		}
		best := 0
		for c, v := range zi {
			if v > zi[best] {
				best = c
			}
		}
		out[i] = m.Classes[best]
	}
	return out
}

// Proba returns class probabilities, n rows of K, row-major; labels absent
// from the training data get probability 0.
func (m *Model) Proba(x []float32, n int) ([]float64, error) {
	if err := m.checkX(x, n); err != nil {
		return nil, err
	}
	z, rows := m.decision(toFloat64(x), n)
	out := make([]float64, n*m.K)
	for i := 0; i < n; i++ {
		zi := z[i*rows : (i+1)*rows]
		oi := out[i*m.K : (i+1)*m.K]
		if rows == 1 {
			p := sigmoid(zi[0])
			oi[m.Classes[0]], oi[m.Classes[1]] = 1-p, p
			continue
		}
		mx := zi[0]
		for _, v := range zi {
			mx = math.Max(mx, v)
		}
		s := 0.0
		for c, v := range zi {
			e := math.Exp(v - mx)
			oi[m.Classes[c]] = e
			s += e
		}
		for _, c := range m.Classes {
			oi[c] /= s
		}
	}
	return out, nil
}
