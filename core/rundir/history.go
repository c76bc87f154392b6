package rundir

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/clusterlab/clusterlab/core/npy"
)

// EpochRecord is one line of history.jsonl.
type EpochRecord struct {
	Epoch      int       `json:"epoch"` // 1-based
	HeadLosses []float64 `json:"head_losses"`
	Loss       float64   `json:"loss"` // mean over heads
	// LR, WeightDecay and TeacherMomentum are the values of the epoch's
	// last step; TeacherTemp is the epoch's teacher temperature.
	LR              float64 `json:"lr"`
	WeightDecay     float64 `json:"weight_decay"`
	TeacherMomentum float64 `json:"teacher_momentum"`
	TeacherTemp     float64 `json:"teacher_temp"`
	Seconds         float64 `json:"seconds"`
	// Losses that train without the shared trainer record their own
	// terms; left out of the line when zero. TURTLE (losses/turtle)
	// writes one record per outer iteration (Epoch is the 1-based
	// iteration, Loss and HeadLosses[0] its outer loss, the schedule
	// fields above zero) with: PredError, the summed cross-entropy of the
	// fitted inner classifiers on the batch's labelling; Entropy, the
	// summed entropy of each space's mean cluster distribution on the
	// batch; ClustersUsed, the clusters the batch's labelling (its
	// argmax) uses.
	PredError    float64 `json:"pred_error,omitempty"`
	Entropy      float64 `json:"entropy,omitempty"`
	ClustersUsed int     `json:"clusters_used,omitempty"`
}

// WriteHistory rewrites history.jsonl atomically from the records.
func WriteHistory(path string, records []EpochRecord) error {
	var sb strings.Builder
	for _, r := range records {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		sb.Write(b)
		sb.WriteByte('\n')
	}
	err := npy.WriteAtomic(path, func(w io.Writer) error {
		_, err := io.WriteString(w, sb.String())
		return err
	})
	if err != nil {
		return fmt.Errorf("write history %s: %w", path, err)
	}
	return nil
}

// ReadHistory parses history.jsonl; an error names the file and line.
func ReadHistory(path string) ([]EpochRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	defer f.Close()
	var out []EpochRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r EpochRecord
		dec := json.NewDecoder(bytes.NewReader(line))
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("%s line %d is not an epoch record: %w", path, n, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}

// ScheduleHeader is the header line of schedule.csv (rundir.ScheduleFile):
// one row per step, step the 0-based global step, epoch the 1-based epoch
// it belongs to, then the values that step used: the learning rate (after
// the batch_size/256 scaling), the weight decay, the teacher's EMA
// momentum and the teacher temperature (constant within an epoch).
const ScheduleHeader = "step,epoch,lr,weight_decay,teacher_momentum,teacher_temp"

// WriteSchedule writes schedule.csv atomically, one row per step; floats
// in Go's shortest representation that reads back to the same float64
// ('g', -1), which Python's float() parses exactly.
func WriteSchedule(path string, steps []ScheduleStep) error {
	return npy.WriteAtomic(path, func(w io.Writer) error {
		if _, err := io.WriteString(w, ScheduleHeader+"\n"); err != nil {
			return err
		}
		var b []byte
		for _, st := range steps {
			b = strconv.AppendInt(b[:0], int64(st.Step), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(st.Epoch), 10)
			for _, v := range []float64{st.LR, st.WeightDecay, st.TeacherMomentum, st.TeacherTemp} {
				b = append(b, ',')
				b = strconv.AppendFloat(b, v, 'g', -1, 64)
			}
			b = append(b, '\n')
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	})
}

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

// scheduleColumns are the columns ReadSchedule needs (ScheduleHeader
// names them in the order the trainer writes them); others are ignored.
var scheduleColumns = strings.Split(ScheduleHeader, ",")

// ReadSchedule parses schedule.csv. The steps must run 0, 1, 2, ... and
// every epoch must have the same number of steps (a file cut short by a
// crash is damaged: the trainer writes it whole, atomically). An error
// names the file and the line.
func ReadSchedule(path string) (Schedule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Schedule{}, fmt.Errorf("%w", err)
	}
	bad := func(line int, format string, args ...any) error {
		return fmt.Errorf("%s line %d: %s", path, line, fmt.Sprintf(format, args...))
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
					return Schedule{}, bad(n, "the header %q lacks the column %q (want %s)", line, name, ScheduleHeader)
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
		return Schedule{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if ncol == 0 {
		return Schedule{}, fmt.Errorf("%s is empty (no header %s)", path, ScheduleHeader)
	}
	if len(s.Steps) == 0 {
		return Schedule{}, fmt.Errorf("%s has a header but no steps", path)
	}
	last := len(s.Steps) - epochStart
	if s.StepsPerEpoch == 0 {
		s.StepsPerEpoch = last // a single epoch
	} else if last != s.StepsPerEpoch {
		return Schedule{}, bad(epochLine, "the last epoch, %d, has %d steps, epoch 1 has %d (the file is cut short?)", s.Steps[len(s.Steps)-1].Epoch, last, s.StepsPerEpoch)
	}
	return s, nil
}
