package main

import (
	"fmt"
	"path/filepath"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/tbevents"
)

// openTensorBoard opens the run's event files (rundir.TensorBoardDir of
// outDir) for TURTLE's series, one value per outer iteration at step =
// iterations done (history.jsonl's loss, pred_error, entropy and
// clusters_used):
//
//	turtle/loss, turtle/pred_error, turtle/entropy, turtle/clusters_used
//
// It keeps this trainer's records up to iteration done (the
// checkpoint's) and drops the runner's end-of-run records
// (rundir.IsRunnerTensorBoardTag), which the runner writes again after
// Fit. Monitoring only: a failure stops it with a message, never the run.
func openTensorBoard(outDir string, done int, progress func(core.Progress)) *tbevents.BestEffort {
	report := func(err error) {
		if progress != nil {
			progress(core.Progress{Message: fmt.Sprintf("TensorBoard files: %v; live monitoring stops, training goes on", err)})
		}
	}
	dir := filepath.Join(outDir, rundir.TensorBoardDir)
	w, err := tbevents.ResumeFunc(dir, func(r tbevents.Record) bool {
		return r.Step <= int64(done) && !rundir.IsRunnerTensorBoardTag(r.Tag)
	})
	if err != nil {
		report(fmt.Errorf("%w (delete %s to start them afresh)", err, dir))
		return tbevents.NewBestEffort(nil, report)
	}
	return tbevents.NewBestEffort(w, report)
}

// writeIteration records outer iteration number step (1-based).
func writeIteration(tb *tbevents.BestEffort, step int, loss, predError, entropy, clustersUsed float64) {
	for _, kv := range []struct {
		tag string
		v   float64
	}{{"turtle/loss", loss}, {"turtle/pred_error", predError}, {"turtle/entropy", entropy}, {"turtle/clusters_used", clustersUsed}} {
		tb.Scalar(kv.tag, int64(step), kv.v)
	}
}
