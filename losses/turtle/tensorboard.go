package main

import (
	"fmt"
	"path/filepath"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/tbevents"
)

// tensorBoard writes TURTLE's series into the run's event files:
//
//	turtle/loss, turtle/pred_error, turtle/entropy, turtle/clusters_used
//
// one value per outer iteration, at step = iterations done (history.jsonl's
// loss, pred_error, entropy and clusters_used). The runner appends its
// end-of-run records after Fit (rundir.IsRunnerTensorBoardTag).
type tensorBoard struct {
	w        *tbevents.Writer
	progress func(core.Progress)
}

// openTensorBoard opens the event files of outDir, keeping this trainer's
// records up to iteration done (the checkpoint's).
func openTensorBoard(outDir string, done int, progress func(core.Progress)) *tensorBoard {
	tb := &tensorBoard{progress: progress}
	dir := filepath.Join(outDir, rundir.TensorBoardDir)
	w, err := tbevents.ResumeFunc(dir, func(r tbevents.Record) bool {
		return r.Step <= int64(done) && !rundir.IsRunnerTensorBoardTag(r.Tag)
	})
	if err != nil {
		tb.say(fmt.Errorf("%w (delete %s to start them afresh)", err, dir))
		return tb
	}
	tb.w = w
	return tb
}

func (tb *tensorBoard) say(err error) {
	if tb.progress != nil {
		tb.progress(core.Progress{Message: fmt.Sprintf("TensorBoard files: %v; live monitoring stops, training goes on", err)})
	}
}

// stop ends the monitoring after an error, saying so once.
func (tb *tensorBoard) stop(err error) {
	if tb.w == nil {
		return
	}
	_ = tb.w.Close()
	tb.w = nil
	tb.say(err)
}

// iteration records outer iteration number step (1-based).
func (tb *tensorBoard) iteration(step int, loss, predError, entropy, clustersUsed float64) {
	if tb.w == nil {
		return
	}
	for _, kv := range []struct {
		tag string
		v   float64
	}{{"turtle/loss", loss}, {"turtle/pred_error", predError}, {"turtle/entropy", entropy}, {"turtle/clusters_used", clustersUsed}} {
		if err := tb.w.Scalar(kv.tag, int64(step), kv.v); err != nil {
			tb.stop(err)
			return
		}
	}
}

// flush makes the records durable (at each checkpoint).
func (tb *tensorBoard) flush() {
	if tb.w != nil {
		if err := tb.w.Flush(); err != nil {
			tb.stop(err)
		}
	}
}

func (tb *tensorBoard) close() {
	if tb.w != nil {
		if err := tb.w.Close(); err != nil {
			tb.say(err)
		}
		tb.w = nil
	}
}
