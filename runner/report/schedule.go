package report

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/clusterlab/clusterlab/core/train"
)

// Schedule is schedule.csv (rundir.ScheduleFile) as read back: the
// trainer's schedules at step resolution.
type Schedule struct {
	StepsPerEpoch int
	Steps         []ScheduleStep
}

// ScheduleStep is one row of schedule.csv.
type ScheduleStep struct {
	Step            int // 0-based global step
	Epoch           int // 1-based epoch of the step
	LR              float64
	WeightDecay     float64
	TeacherMomentum float64
	TeacherTemp     float64
}

// scheduleColumns are the columns ReadSchedule needs (train.ScheduleHeader
// names them in the order the trainer writes them); others are ignored.
var scheduleColumns = strings.Split(train.ScheduleHeader, ",")

// ReadSchedule parses schedule.csv. The steps must run 0, 1, 2, ... and
// every epoch must have the same number of steps (a file cut short by a
// crash is damaged: the trainer writes it whole, atomically). An error
// names the file and the line.
func ReadSchedule(path string) (Schedule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Schedule{}, fmt.Errorf("report: %w", err)
	}
	bad := func(line int, format string, args ...any) error {
		return fmt.Errorf("report: %s line %d: %s", path, line, fmt.Sprintf(format, args...))
	}
	var s Schedule
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	col := map[string]int{}
	ncol := 0
	epochStart, epochLine := 0, 0 // first step and line of the current epoch
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Split(line, ",")
		if ncol == 0 { // the header
			for i, name := range f {
				col[strings.TrimSpace(name)] = i
			}
			for _, name := range scheduleColumns {
				if _, ok := col[name]; !ok {
					return Schedule{}, bad(n, "the header %q lacks the column %q (want %s)", line, name, train.ScheduleHeader)
				}
			}
			ncol = len(f)
			continue
		}
		if len(f) != ncol {
			return Schedule{}, bad(n, "%d fields, the header has %d", len(f), ncol)
		}
		get := func(name string) string { return strings.TrimSpace(f[col[name]]) }
		var r ScheduleStep
		if r.Step, err = strconv.Atoi(get("step")); err != nil {
			return Schedule{}, bad(n, "step %q is not an integer", get("step"))
		}
		if r.Epoch, err = strconv.Atoi(get("epoch")); err != nil {
			return Schedule{}, bad(n, "epoch %q is not an integer", get("epoch"))
		}
		for _, v := range []struct {
			name string
			to   *float64
		}{{"lr", &r.LR}, {"weight_decay", &r.WeightDecay}, {"teacher_momentum", &r.TeacherMomentum}, {"teacher_temp", &r.TeacherTemp}} {
			if *v.to, err = strconv.ParseFloat(get(v.name), 64); err != nil {
				return Schedule{}, bad(n, "%s %q is not a number", v.name, get(v.name))
			}
		}
		if r.Step != len(s.Steps) {
			return Schedule{}, bad(n, "step %d, want %d (steps run 0, 1, 2, ...)", r.Step, len(s.Steps))
		}
		prev := 0
		if len(s.Steps) > 0 {
			prev = s.Steps[len(s.Steps)-1].Epoch
		}
		switch {
		case len(s.Steps) == 0 && r.Epoch != 1:
			return Schedule{}, bad(n, "the first step is in epoch %d, want 1", r.Epoch)
		case r.Epoch != prev && r.Epoch != prev+1:
			return Schedule{}, bad(n, "epoch %d follows epoch %d", r.Epoch, prev)
		case r.Epoch == prev+1 && prev > 0:
			if steps := r.Step - epochStart; s.StepsPerEpoch == 0 {
				s.StepsPerEpoch = steps
			} else if steps != s.StepsPerEpoch {
				return Schedule{}, bad(epochLine, "epoch %d has %d steps, epoch 1 has %d", prev, steps, s.StepsPerEpoch)
			}
		}
		if r.Epoch != prev {
			epochStart, epochLine = r.Step, n
		}
		s.Steps = append(s.Steps, r)
	}
	if err := sc.Err(); err != nil {
		return Schedule{}, fmt.Errorf("report: reading %s: %w", path, err)
	}
	if ncol == 0 {
		return Schedule{}, fmt.Errorf("report: %s is empty (no header %s)", path, train.ScheduleHeader)
	}
	if len(s.Steps) == 0 {
		return Schedule{}, fmt.Errorf("report: %s has a header but no steps", path)
	}
	last := len(s.Steps) - epochStart
	if s.StepsPerEpoch == 0 {
		s.StepsPerEpoch = last // a single epoch
	} else if last != s.StepsPerEpoch {
		return Schedule{}, bad(epochLine, "the last epoch, %d, has %d steps, epoch 1 has %d (the file is cut short?)", s.Steps[len(s.Steps)-1].Epoch, last, s.StepsPerEpoch)
	}
	return s, nil
}

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
func seriesFromHistory(hist []train.EpochRecord) scheduleSeries {
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

// seriesFromSchedule puts step i at x = i / steps per epoch, so that epoch
// e spans [e-1, e) and a warm-up within the first epoch is a visible ramp.
func seriesFromSchedule(sc Schedule) scheduleSeries {
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
