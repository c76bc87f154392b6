package main

import (
	"fmt"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/tbevents"
	"github.com/clusterlab/clusterlab/core/train"
)

// openTensorBoard opens the run's event files (train.OpenTensorBoard) for
// TURTLE's series, one value per outer iteration at step = iterations
// done (history.jsonl's loss, pred_error, entropy and clusters_used):
//
//	turtle/loss, turtle/pred_error, turtle/entropy, turtle/clusters_used
//
// Monitoring only: files that cannot be read back are reported and not
// written, and the run goes on.
func openTensorBoard(outDir string, done int, progress func(core.Progress)) *tbevents.BestEffort {
	tb, err := train.OpenTensorBoard(outDir, done, progress)
	if err != nil {
		progress(core.Progress{Message: fmt.Sprintf("%v; live monitoring stops, training goes on", err)})
	}
	return tb
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
