package report

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/clusterlab/clusterlab/core/rundir"
)

// TestBuildOwnLoopHistory: a loss with its own training loop (TURTLE)
// writes one single-head record per iteration, thousands of them, with
// its own terms and no schedules, and no schedule.csv: the report plots
// the loss, no schedules, and has nothing to note.
func TestBuildOwnLoopHistory(t *testing.T) {
	s := defaultRun()
	s.heads, s.best, s.noHistory, s.noSchedule = 1, 0, true, true
	dir := makeRun(t, s)
	var hist []rundir.EpochRecord
	for it := 1; it <= 6000; it++ {
		l := -20 - math.Log(float64(it))
		hist = append(hist, rundir.EpochRecord{Epoch: it, HeadLosses: []float64{l}, Loss: l,
			PredError: 1 / float64(it), Entropy: 2.2, ClustersUsed: 4, Seconds: 0.05})
	}
	if err := rundir.WriteHistory(filepath.Join(dir, rundir.HistoryFile), hist); err != nil {
		t.Fatal(err)
	}
	files, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(files.Plots, rundir.LossPlot) || slices.Contains(files.Plots, rundir.SchedulePlot) {
		t.Errorf("plots %v: want the loss plot and no schedule plot", files.Plots)
	}
	if len(files.Notes) != 0 {
		t.Errorf("notes %q, want none", files.Notes)
	}
}
