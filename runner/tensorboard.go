package main

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"

	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/tbevents"
)

// The runner's end-of-run TensorBoard records, appended after the
// trainer's (core/train/monitor.go) to the run's rundir.TensorBoardDir, at
// the last training step so that they sit at the end of the step axis:
//
//	report/confusion_SPLIT, report/gallery_SPLIT   images (the run's PNGs)
//	report/cluster_sizes_SPLIT                     histogram of the selected head's cluster ids (one bucket per cluster)
//	report/tables                                  text: tables.md
//	baselines/METHOD_SPLIT/acc|nmi|ari             scalars of k-means, the k-NN classifier and the linear probe
//
// A rerun (after an interrupted report) drops these tags and writes them
// again; the trainer does the same when it resumes. TensorBoard files
// are monitoring: a failure here is logged, never fails the run.
//
// baselines are the results of the baselines stage.
func writeTensorBoardReport(runDir string, splits []string, best int, baselines []rundir.Result, log trialLog) {
	if err := tensorBoardReport(runDir, splits, best, baselines); err != nil {
		log.Logf("note: TensorBoard files: %v (the run's other outputs are complete)", err)
	}
}

func tensorBoardReport(runDir string, splits []string, best int, baselines []rundir.Result) error {
	dir := filepath.Join(runDir, rundir.TensorBoardDir)
	clusters := 0
	assign := map[string][]int32{}
	for _, s := range splits {
		row, err := selectedHead(runDir, s, best)
		if err != nil {
			continue
		}
		assign[s] = row
		for _, c := range row {
			clusters = max(clusters, int(c)+1)
		}
	}
	opts := []tbevents.Option{}
	if clusters > 0 {
		opts = append(opts, tbevents.HistogramBuckets(clusters))
	}
	// Keep the trainer's records, noting the last training step on the
	// way (the runner's records go there).
	last := int64(0)
	w, err := tbevents.ResumeFunc(dir, func(r tbevents.Record) bool {
		if rundir.IsRunnerTensorBoardTag(r.Tag) {
			return false
		}
		last = max(last, r.Step)
		return true
	}, opts...)
	if err != nil {
		return err
	}
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range splits {
		for _, img := range []struct{ tag, file string }{
			{"report/confusion_" + s, rundir.ConfusionPlot(s)},
			{"report/gallery_" + s, rundir.GalleryFile(s)},
		} {
			tag, file := img.tag, img.file
			b, err := os.ReadFile(filepath.Join(runDir, file))
			if err != nil {
				continue // a picture the run could not draw
			}
			cfg, err := png.DecodeConfig(bytes.NewReader(b))
			if err != nil {
				note(fmt.Errorf("%s: %w", file, err))
				continue
			}
			note(w.Image(tag, last, b, cfg.Width, cfg.Height))
		}
		if row, ok := assign[s]; ok && len(row) > 0 {
			v := make([]float64, len(row))
			for i, c := range row {
				v[i] = float64(c)
			}
			note(w.Histogram("report/cluster_sizes_"+s, last, v))
		}
	}
	if b, err := os.ReadFile(filepath.Join(runDir, rundir.TablesMarkdown)); err == nil {
		note(w.Text("report/tables", last, string(b)))
	}
	for _, r := range baselines {
		for _, m := range []struct {
			name string
			v    float64
		}{{"acc", r.ACC}, {"nmi", r.NMI}, {"ari", r.ARI}} {
			if !math.IsNaN(m.v) { // NaN: not defined for the method (the classifiers' NMI), or no labels
				note(w.Scalar(fmt.Sprintf("baselines/%s_%s/%s", r.Method, r.Split, m.name), last, m.v))
			}
		}
	}
	note(w.Close())
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}
