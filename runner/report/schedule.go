package report

import (
	"fmt"
	"math"
	"slices"

	"github.com/clusterlab/clusterlab/core/rundir"
)

// scheduleSeries is what the schedule plot draws: one x per point (in
// epochs) and the values of each schedule.
type scheduleSeries struct {
	xs                []float64
	lr, wd, mom, temp []float64
	xlo, xhi          float64
	xLabel            string
}

// seriesFromHistory is the per-epoch fallback: the value of each epoch's
// last step, at x = the epoch.
func seriesFromHistory(hist []rundir.EpochRecord) scheduleSeries {
	var s scheduleSeries
	for _, r := range hist {
		s.xs = append(s.xs, float64(r.Epoch))
		s.lr, s.wd = append(s.lr, r.LR), append(s.wd, r.WeightDecay)
		s.mom, s.temp = append(s.mom, r.TeacherMomentum), append(s.temp, r.TeacherTemp)
	}
	s.xlo, s.xhi, _ = dataRange(s.xs)
	s.xLabel = "epoch"
	return s
}

// hasSchedules reports whether history records carry the shared
// trainer's schedules; a loss with its own training loop (TURTLE) leaves
// them all zero, and then there is nothing to plot.
func hasSchedules(hist []rundir.EpochRecord) bool {
	for _, r := range hist {
		if r.LR != 0 || r.WeightDecay != 0 || r.TeacherMomentum != 0 || r.TeacherTemp != 0 {
			return true
		}
	}
	return false
}

// seriesFromSchedule puts step i at x = i / steps per epoch, so that epoch
// e spans [e-1, e) and a warm-up within the first epoch is a visible ramp.
func seriesFromSchedule(sc rundir.Schedule) scheduleSeries {
	var s scheduleSeries
	ipe := float64(max(sc.StepsPerEpoch, 1))
	for _, r := range sc.Steps {
		s.xs = append(s.xs, float64(r.Step)/ipe)
		s.lr, s.wd = append(s.lr, r.LR), append(s.wd, r.WeightDecay)
		s.mom, s.temp = append(s.mom, r.TeacherMomentum), append(s.temp, r.TeacherTemp)
	}
	s.xlo, s.xhi = 0, math.Max(1, float64(len(sc.Steps))/ipe)
	s.xLabel = fmt.Sprintf("epoch (step / %d steps per epoch)", sc.StepsPerEpoch)
	return s
}

// decimate thins a long series for drawing: of each of about buckets runs
// of consecutive points it keeps the first, last, lowest and highest (and
// the first non-finite one, which breaks the line), in order, so the
// drawn shape is that of the full series.
func decimate(xs, ys []float64, buckets int) ([]float64, []float64) {
	n := len(ys)
	if n <= 4*buckets {
		return xs, ys
	}
	var ox, oy []float64
	for b := 0; b < buckets; b++ {
		lo, hi := b*n/buckets, (b+1)*n/buckets
		if lo >= hi {
			continue
		}
		keep := []int{lo, hi - 1}
		mn, mx, nan := -1, -1, -1
		for i := lo; i < hi; i++ {
			v := ys[i]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				if nan < 0 {
					nan = i
				}
				continue
			}
			if mn < 0 || v < ys[mn] {
				mn = i
			}
			if mx < 0 || v > ys[mx] {
				mx = i
			}
		}
		for _, i := range []int{mn, mx, nan} {
			if i >= 0 {
				keep = append(keep, i)
			}
		}
		slices.Sort(keep)
		for j, i := range keep {
			if j > 0 && i == keep[j-1] {
				continue
			}
			ox, oy = append(ox, xs[i]), append(oy, ys[i])
		}
	}
	return ox, oy
}
