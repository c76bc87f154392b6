package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/logreg"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/selection"
	"github.com/clusterlab/clusterlab/runner/config"
)

// generalizationInput is what the generalization stage reads.
type generalizationInput struct {
	Data embedded // the spaces used: each space's train embeddings
	// Results are every result of the run; the stage sets Generalization
	// on those of each method it scores (all splits alike).
	Results []rundir.Result
	// Train maps a method's results (method and selection) to the .npy of
	// its train assignment and the row of it to score: the loss's
	// [heads, N] assign_train.npy and its selected head, k-means's [N]
	// kmeans_train.npy (row 0).
	Train   map[methodKey]trainAssignment
	Options selectionOptions
	Log     trialLog
}

// methodKey names a method's results: its method and selection.
type methodKey struct{ Method, Selection string }

// trainAssignment is where a method's train assignment is.
type trainAssignment struct {
	Path string
	Row  int
}

// selectionOptions are the selection section of the config.
type selectionOptions struct {
	Generalization bool
	Folds, MaxRows int
}

func selectionOptionsOf(cfg *config.Config) selectionOptions {
	s := cfg.Selection
	return selectionOptions{Generalization: s.Generalization, Folds: s.Folds, MaxRows: s.MaxRows}
}

// generalizationStage computes TURTLE's generalization score of each
// method's train assignment on the spaces the run used (core/selection)
// and records it on every result of that method. A method whose score is
// undefined (a single cluster, clusters smaller than the folds) keeps NaN,
// with a note saying why. It returns the seconds spent.
func generalizationStage(ctx context.Context, in generalizationInput) (float64, error) {
	if !in.Options.Generalization || len(in.Train) == 0 {
		return 0, nil
	}
	t0 := time.Now()
	var spaces []selection.Matrix
	for _, sp := range in.Data.Spaces {
		train := sp.Splits[core.SplitTrain]
		x, shape, unmap, err := npy.MapFloat32(train.Embeddings)
		if err != nil {
			return 0, err
		}
		defer unmap()
		spaces = append(spaces, selection.Matrix{Data: x, Rows: shape[0], Cols: shape[1]})
	}
	// In the order of the results, so the log reads like the table.
	var keys []methodKey
	for _, r := range in.Results {
		k := methodKey{r.Method, r.Selection}
		if _, ok := in.Train[k]; ok && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		ta := in.Train[k]
		a, shape, err := npy.ReadInt32(ta.Path)
		if err != nil {
			return 0, err
		}
		n := shape[len(shape)-1]
		if ta.Row < 0 || (ta.Row+1)*n > len(a) {
			return 0, fmt.Errorf("%s has no row %d", ta.Path, ta.Row)
		}
		labels := a[ta.Row*n : (ta.Row+1)*n]
		folds := in.Options.Folds
		p := in.Log.Progress("gen. score "+k.Method, "fit", folds*len(spaces))
		sc, err := selection.GeneralizationScore(ctx, spaces, labels, selection.Options{
			Folds: folds, MaxRows: in.Options.MaxRows,
			Progress: func(done, total int) { p.Set(done, "") },
		})
		switch {
		case errors.Is(err, selection.ErrUndefined):
			p.Stop()
			in.Log.Logf("note: %s (%s) has no generalization score: %v", k.Method, k.Selection, err)
			continue
		case err != nil:
			p.Stop()
			return 0, fmt.Errorf("generalization score of %s: %w", k.Method, err)
		}
		p.Done(fmt.Sprintf("%.1f%% on %d rows, %d folds, %d space(s)", 100*sc.Mean, sc.Rows, folds, len(spaces)))
		for i := range in.Results {
			if r := &in.Results[i]; r.Method == k.Method && r.Selection == k.Selection {
				r.Generalization = sc.Mean
			}
		}
	}
	return time.Since(t0).Seconds(), nil
}

// trainAssignments lists the train assignments the generalization stage
// scores: the loss's selected head and k-means, when they ran.
func trainAssignments(runDir string, fit fitOutput, results []rundir.Result) map[methodKey]trainAssignment {
	out := map[methodKey]trainAssignment{}
	if p, ok := fit.Result.Assignments[core.SplitTrain]; ok {
		out[methodKey{fit.Loss, "best-head"}] = trainAssignment{Path: p, Row: fit.Result.BestHead}
	}
	for _, r := range results {
		if r.Method == "kmeans" && r.Split == core.SplitTrain {
			out[methodKey{r.Method, r.Selection}] = trainAssignment{Path: filepath.Join(runDir, rundir.KMeansFile(core.SplitTrain))}
		}
	}
	return out
}

// linearProbe fits the linear probe (core/selection.LinearProbe: scikit-
// learn's LogisticRegression, C = 1) to the labelled train rows and
// returns its result on the labelled test rows: test ACC only, supervised.
func linearProbe(ctx context.Context, x []float32, d int, trainLabels []int32, xt []float32, testLabels []int32, log trialLog) (rundir.Result, error) {
	xl, yl := labelledRows(x, trainLabels, d)
	xtl, ytl := labelledRows(xt, testLabels, d)
	p := log.Progress("linear probe", "fit", 1)
	pr, err := selection.LinearProbe(ctx, selection.Matrix{Data: xl, Rows: len(yl), Cols: d}, yl,
		selection.Matrix{Data: xtl, Rows: len(ytl), Cols: d}, ytl, logreg.Options{})
	if err != nil {
		p.Stop()
		return rundir.Result{}, fmt.Errorf("linear probe: %w", err)
	}
	conv := ""
	if !pr.Converged {
		conv = ", stopped at max_iter as scikit-learn would"
	}
	p.Done(fmt.Sprintf("test ACC %.1f%% (%d L-BFGS iterations%s)", 100*pr.TestAccuracy, pr.Iterations, conv))
	r := rundir.Result{Method: "linear-probe", Selection: "C=1", Split: core.SplitTest, Silhouette: math.NaN(), Generalization: math.NaN(), Supervised: true}
	r.ACC, r.NMI, r.ARI, r.AMI, r.MajorityACC = pr.TestAccuracy, math.NaN(), math.NaN(), math.NaN(), math.NaN()
	r.N, r.Unlabelled = len(testLabels), len(testLabels)-len(ytl)
	return r, nil
}
