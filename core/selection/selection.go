// Package selection scores labellings without ground truth, and with it:
// TURTLE's generalization score (label-free model selection, see
// shared/TURTLE.md "Output and selection") and the linear probe
// (the supervised reference).
//
// Both are scikit-learn 1.2.1's LogisticRegression(C=1, solver="lbfgs",
// max_iter=100) as package logreg reproduces it. The generalization score
// of a labelling is, per representation space,
// cross_val_score(LogisticRegression(), Z_s, labels, cv=Folds).mean() —
// StratifiedKFold(Folds) without shuffling, as sklearn uses for a
// classifier — and then the mean over spaces.
//
// What the authors' code does differs (mlbio-epfl/turtle, cross_val.py,
// read for this package): cuML's LogisticRegression on the GPU with
// max_iter 1000 (400 on ImageNet-scale sets) and tol 1e-9, i.e. fits run
// close to the optimum, on every train row, with unstratified folds
// (numpy's permutation under seed 42, np.array_split into 10). This
// package follows the sklearn definition the project chose; Options.LogReg
// can raise MaxIter and lower Tol towards the authors' fits.
package selection

import (
	"context"
	"errors"
	"fmt"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/logreg"
)

// Matrix is one representation space: Rows rows of Cols features,
// row-major (float32, as embeddings are stored; the fits convert to
// float64 as sklearn does).
type Matrix struct {
	Data       []float32
	Rows, Cols int
}

func (m Matrix) check(what string) error {
	if m.Rows <= 0 || m.Cols <= 0 || len(m.Data) != m.Rows*m.Cols {
		return core.InvalidInput(fmt.Errorf("selection: %s is %d x %d with %d values; want rows x cols values, both positive", what, m.Rows, m.Cols, len(m.Data)))
	}
	return nil
}

// ErrUndefined is matched (errors.Is) when a labelling has no score:
// fewer than two clusters, fewer rows than folds, every cluster smaller
// than the number of folds, or a fold whose training rows hold a single
// cluster. scikit-learn raises in the first three cases and scores the
// fold NaN in the last (so the mean is NaN); a score of a one-cluster
// labelling would otherwise be a perfect 1 and win any selection. The
// error says which case it is.
var ErrUndefined = errors.New("generalization score undefined")

func undefined(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUndefined}, args...)...)
}

// Options of GeneralizationScore. The zero value is the definition above.
type Options struct {
	// Folds is the number of cross-validation folds; 0 means 10.
	Folds int
	// Seed 0 keeps sklearn's unshuffled StratifiedKFold (reproduced
	// exactly); another value shuffles each cluster's fold numbers with a
	// Go generator (stratified still, but not numpy's shuffle).
	Seed uint64
	// MaxRows, when positive and below the number of rows, scores a
	// stratified subsample of that many rows (see Subsample) instead of
	// every row. The authors score every row.
	MaxRows int
	// LogReg are the regression's settings; the zero value is sklearn's
	// defaults (C 1, max_iter 100, tol 1e-4), Threads 0 all cores.
	LogReg logreg.Options
	// Progress, when not nil, is called after each fit (one per fold and
	// space) with the number done and the total, from the calling
	// goroutine.
	Progress func(done, total int)
}

// Score is a labelling's generalization score.
type Score struct {
	// Mean is the score: the mean over spaces of PerSpace.
	Mean float64
	// PerSpace is the mean held-out accuracy over folds, per space.
	PerSpace []float64
	// Folds is each space's held-out accuracy per fold.
	Folds [][]float64
	// Iterations is each space's L-BFGS iterations per fold; a fold at
	// LogReg.MaxIter stopped there (sklearn's ConvergenceWarning).
	Iterations [][]int
	// Loss is each space's objective per fold (see package logreg).
	Loss [][]float64
	// Rows is the number of rows scored (MaxRows applied) and Clusters the
	// number of non-empty clusters among them.
	Rows, Clusters int
	// SmallestCluster is the size of the smallest non-empty cluster among
	// the rows scored; below the number of folds sklearn warns ("The least
	// populated class in y has only N members") and some folds lack it.
	SmallestCluster int
}

// GeneralizationScore scores a labelling of the rows of spaces (every
// space holds the same rows; labels[i] >= 0 is row i's cluster; clusters
// may be empty or small). It is cancelled between L-BFGS evaluations.
func GeneralizationScore(ctx context.Context, spaces []Matrix, labels []int32, opt Options) (*Score, error) {
	if len(spaces) == 0 {
		return nil, core.InvalidInput(errors.New("selection: no representation space to score on"))
	}
	folds := opt.Folds
	if folds == 0 {
		folds = 10
	}
	if folds < 2 {
		return nil, core.OptionFault("folds", fmt.Errorf("selection: need at least 2 folds, got %d", folds))
	}
	if opt.MaxRows < 0 {
		return nil, core.OptionFault("max_rows", fmt.Errorf("selection: max_rows must be 0 (all rows) or positive, got %d", opt.MaxRows))
	}
	n := spaces[0].Rows
	for s, m := range spaces {
		if err := m.check(fmt.Sprintf("space %d", s)); err != nil {
			return nil, err
		}
		if m.Rows != n {
			return nil, core.InvalidInput(fmt.Errorf("selection: space %d has %d rows, space 0 has %d; every space must hold the same rows", s, m.Rows, n))
		}
	}
	if len(labels) != n {
		return nil, core.InvalidInput(fmt.Errorf("selection: %d labels for %d rows", len(labels), n))
	}
	k := 0
	for i, v := range labels {
		if v < 0 {
			return nil, core.InvalidInput(fmt.Errorf("selection: label %d of row %d is negative", v, i))
		}
		k = max(k, int(v)+1)
	}
	rows := Subsample(labels, opt.MaxRows)
	y := labels
	if rows != nil {
		y = make([]int32, len(rows))
		for i, r := range rows {
			y[i] = labels[r]
		}
	}
	sc := &Score{Rows: len(y)}
	counts := make([]int, k)
	for _, v := range y {
		counts[v]++
	}
	sc.SmallestCluster = len(y)
	for _, c := range counts {
		if c > 0 {
			sc.Clusters++
			sc.SmallestCluster = min(sc.SmallestCluster, c)
		}
	}
	if sc.Clusters < 2 {
		return nil, undefined("the labelling has %d non-empty cluster(s); a classifier needs two", sc.Clusters)
	}
	if len(y) < folds {
		return nil, undefined("%d rows cannot be split into %d folds", len(y), folds)
	}
	test, err := logreg.StratifiedFolds(y, folds, opt.Seed)
	if err != nil {
		// Every cluster is smaller than folds (the other cases are
		// checked above): sklearn's StratifiedKFold raises.
		return nil, undefined("%v", err)
	}
	total := folds * len(spaces)
	for s, m := range spaces {
		x := m.Data
		if rows != nil {
			x = make([]float32, 0, len(rows)*m.Cols)
			for _, r := range rows {
				x = append(x, m.Data[r*m.Cols:(r+1)*m.Cols]...)
			}
		}
		var progress func(done, total int)
		if opt.Progress != nil {
			progress = func(done, _ int) { opt.Progress(s*folds+done, total) }
		}
		res, err := logreg.CrossValidate(ctx, x, len(y), m.Cols, y, k, test, opt.LogReg, progress)
		if errors.Is(err, logreg.ErrSingleClass) {
			return nil, undefined("space %d: %v (sklearn scores that fold NaN)", s, err)
		}
		if err != nil {
			return nil, fmt.Errorf("selection: space %d: %w", s, err)
		}
		sc.PerSpace = append(sc.PerSpace, res.Mean)
		sc.Folds = append(sc.Folds, res.Accuracy)
		sc.Iterations = append(sc.Iterations, res.Iterations)
		sc.Loss = append(sc.Loss, res.Loss)
		sc.Mean += res.Mean
	}
	sc.Mean /= float64(len(spaces))
	return sc, nil
}

// Probe is a linear probe's outcome.
type Probe struct {
	// TestAccuracy is the accuracy on the test rows, TrainAccuracy on the
	// rows it was fitted to.
	TestAccuracy, TrainAccuracy float64
	// Iterations, Converged and Loss describe the fit (see logreg.Model).
	Iterations int
	Converged  bool
	Loss       float64
}

// LinearProbe fits the regression to the true labels of the train rows
// and scores it on the test rows: the supervised reference a clustering's
// accuracy is read against (the authors' baselines/linear_probe.py, with
// sklearn's fit in place of cuML's). opt's zero value is sklearn's
// defaults.
func LinearProbe(ctx context.Context, train Matrix, trainY []int32, test Matrix, testY []int32, opt logreg.Options) (*Probe, error) {
	if err := train.check("the train matrix"); err != nil {
		return nil, err
	}
	if err := test.check("the test matrix"); err != nil {
		return nil, err
	}
	if test.Cols != train.Cols {
		return nil, core.InvalidInput(fmt.Errorf("selection: test rows have %d features, train rows %d", test.Cols, train.Cols))
	}
	if len(trainY) != train.Rows || len(testY) != test.Rows {
		return nil, core.InvalidInput(fmt.Errorf("selection: %d train labels for %d rows, %d test labels for %d rows", len(trainY), train.Rows, len(testY), test.Rows))
	}
	k := 0
	for _, ys := range [][]int32{trainY, testY} {
		for i, v := range ys {
			if v < 0 {
				return nil, core.InvalidInput(fmt.Errorf("selection: label %d of row %d is negative", v, i))
			}
			k = max(k, int(v)+1)
		}
	}
	k = max(k, 2)
	m, err := logreg.Fit(ctx, train.Data, train.Rows, train.Cols, trainY, k, opt)
	if err != nil {
		return nil, fmt.Errorf("selection: linear probe: %w", err)
	}
	acc := func(x Matrix, y []int32) (float64, error) {
		pred, err := m.Predict(x.Data, x.Rows)
		if err != nil {
			return 0, err
		}
		right := 0
		for i, p := range pred {
			if p == y[i] {
				right++
			}
		}
		return float64(right) / float64(len(y)), nil
	}
	p := &Probe{Iterations: m.Iterations, Converged: m.Converged, Loss: m.Loss}
	if p.TestAccuracy, err = acc(test, testY); err != nil {
		return nil, err
	}
	if p.TrainAccuracy, err = acc(train, trainY); err != nil {
		return nil, err
	}
	return p, nil
}
