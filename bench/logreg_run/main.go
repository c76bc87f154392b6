// Command logreg_run times clusterlab's generalization score (core/selection:
// 10-fold cross-validated LogisticRegression(C=1, lbfgs, max_iter=100) as
// scikit-learn 1.2.1 computes it) on one representation space, for
// bench/logreg_compare.sh.
//
//	logreg_run -x x.npy -y y.npy [-folds 10] [-threads 0] [-mode batched] [-max-rows 0]
//
// -mode batched is GeneralizationScore (the folds' fits evaluated
// together, each pass split over -threads workers); batched32 the same
// with logreg.Options.Float32 (products in float32); sequential fits the
// folds one after another (logreg.Fit, each split over -threads workers);
// pairs runs two folds at a time, one worker each. The last two exist to
// measure the choice made in core/logreg. -max-rows scores
// selection.Subsample's rows only (batched modes). It prints one JSON line: wall
// and CPU seconds (all threads) of the scoring alone, the mean and
// per-fold accuracies, and each fold's iterations and objective.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/clusterlab/clusterlab/bench/internal/benchutil"
	"github.com/clusterlab/clusterlab/core/logreg"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/selection"
)

type report struct {
	N          int       `json:"n"`
	D          int       `json:"d"`
	K          int       `json:"k"`
	Folds      int       `json:"folds"`
	Mode       string    `json:"mode"`
	MaxRows    int       `json:"max_rows"`
	Rows       int       `json:"rows_scored"`
	Threads    int       `json:"threads"`
	BLAS       string    `json:"blas"`
	Seconds    float64   `json:"seconds"`
	CPUSeconds float64   `json:"cpu_seconds"`
	Mean       float64   `json:"mean"`
	PerFold    []float64 `json:"per_fold"`
	Iterations []int     `json:"n_iter"`
	Loss       []float64 `json:"loss"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "logreg_run:", err)
		os.Exit(1)
	}
}

func run() error {
	xPath := flag.String("x", "", "rows, .npy [n, d] float32")
	yPath := flag.String("y", "", "labels to score, .npy [n] int32")
	folds := flag.Int("folds", 10, "cross-validation folds")
	threads := flag.Int("threads", 0, "workers (0: GOMAXPROCS)")
	mode := flag.String("mode", "batched", "batched, batched32, sequential or pairs")
	maxRows := flag.Int("max-rows", 0, "score a stratified subsample of this many rows (0: all)")
	flag.Parse()
	if *xPath == "" || *yPath == "" {
		return errors.New("-x and -y are required")
	}
	x, shape, err := npy.ReadFloat32(*xPath)
	if err != nil {
		return err
	}
	if len(shape) != 2 {
		return fmt.Errorf("%s: shape %v, want [n, d]", *xPath, shape)
	}
	y, _, err := npy.ReadInt32(*yPath)
	if err != nil {
		return err
	}
	n, d := shape[0], shape[1]
	k := 0
	for _, v := range y {
		k = max(k, int(v)+1)
	}
	rep := report{N: n, D: d, K: k, Folds: *folds, Mode: *mode, MaxRows: *maxRows, Rows: n, Threads: *threads, BLAS: logreg.BLASCore()}
	if *maxRows != 0 && !strings.HasPrefix(*mode, "batched") {
		return errors.New("-max-rows needs -mode batched or batched32")
	}
	ctx := context.Background()
	c0, t0 := benchutil.CPUSeconds(), time.Now()
	switch *mode {
	case "batched", "batched32":
		sc, err := selection.GeneralizationScore(ctx, []selection.Matrix{{Data: x, Rows: n, Cols: d}}, y,
			selection.Options{Folds: *folds, MaxRows: *maxRows, LogReg: logreg.Options{Threads: *threads, Float32: *mode == "batched32"}})
		if err != nil {
			return err
		}
		rep.Rows = sc.Rows
		rep.Mean, rep.PerFold, rep.Iterations, rep.Loss = sc.Mean, sc.Folds[0], sc.Iterations[0], sc.Loss[0]
	case "sequential", "pairs":
		test, err := logreg.StratifiedFolds(y, *folds, 0)
		if err != nil {
			return err
		}
		rep.PerFold = make([]float64, *folds)
		rep.Iterations = make([]int, *folds)
		rep.Loss = make([]float64, *folds)
		fit := func(f, threads int) error {
			var xtr, xte []float32
			var ytr, yte []int32
			for i, tf := range test {
				if tf == f {
					xte, yte = append(xte, x[i*d:(i+1)*d]...), append(yte, y[i])
				} else {
					xtr, ytr = append(xtr, x[i*d:(i+1)*d]...), append(ytr, y[i])
				}
			}
			m, err := logreg.Fit(ctx, xtr, len(ytr), d, ytr, k, logreg.Options{Threads: threads})
			if err != nil {
				return err
			}
			pred, err := m.Predict(xte, len(yte))
			if err != nil {
				return err
			}
			right := 0
			for i, p := range pred {
				if p == yte[i] {
					right++
				}
			}
			rep.PerFold[f] = float64(right) / float64(len(yte))
			rep.Iterations[f], rep.Loss[f] = m.Iterations, m.Loss
			return nil
		}
		if *mode == "sequential" {
			for f := 0; f < *folds; f++ {
				if err := fit(f, *threads); err != nil {
					return err
				}
			}
		} else {
			var wg sync.WaitGroup
			errs := make([]error, *folds)
			for lane := 0; lane < 2; lane++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for f := lane; f < *folds; f += 2 {
						errs[f] = fit(f, 1)
					}
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				return err
			}
		}
		for _, a := range rep.PerFold {
			rep.Mean += a / float64(*folds)
		}
	default:
		return fmt.Errorf("-mode %q: want batched, batched32, sequential or pairs", *mode)
	}
	rep.Seconds, rep.CPUSeconds = time.Since(t0).Seconds(), benchutil.CPUSeconds()-c0
	out, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}
