package rundir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReadSchedule: schedule.csv as the trainer writes it, with columns
// found by name, and errors naming the file and line of a damage.
func TestReadSchedule(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ScheduleFile)
	var steps []ScheduleStep
	for it := range 12 {
		steps = append(steps, ScheduleStep{Step: it, Epoch: it/4 + 1, LR: 1e-3 * float64(it) / 3, WeightDecay: 0.04,
			TeacherMomentum: 0.996, TeacherTemp: 0.04 + 0.01*float64(it/4)})
	}
	if err := WriteSchedule(path, steps); err != nil {
		t.Fatal(err)
	}
	s, err := ReadSchedule(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.StepsPerEpoch != 4 || !slices.Equal(s.Steps, steps) {
		t.Fatalf("schedule read back %+v, want %+v", s, steps)
	}
	// Another column order, an extra column, CRLF line ends.
	other := "epoch,teacher_temp,extra,step,lr,weight_decay,teacher_momentum\r\n1,0.1,x,0,0,0.04,0.996\r\n1,0.1,x,1,0.5,0.04,0.996\r\n"
	os.WriteFile(path, []byte(other), 0o644)
	if s, err := ReadSchedule(path); err != nil || s.StepsPerEpoch != 2 || s.Steps[1].LR != 0.5 || s.Steps[1].TeacherTemp != 0.1 {
		t.Errorf("reordered columns: %+v %v", s, err)
	}
	const head = "step,epoch,lr,weight_decay,teacher_momentum,teacher_temp\n"
	for name, c := range map[string]struct{ content, want string }{
		"empty":         {"", "is empty"},
		"no steps":      {head, "no steps"},
		"column":        {"step,epoch,lr,weight_decay,teacher_momentum\n0,1,0,0,0\n", "line 1"},
		"fields":        {head + "0,1,0,0,0.9,0.1\n1,1,0,0,0.9\n", "line 3"},
		"number":        {head + "0,1,0,0,0.9,0.1\n1,1,fast,0,0.9,0.1\n", "line 3"},
		"step gap":      {head + "0,1,0,0,0.9,0.1\n2,1,0,0,0.9,0.1\n", "line 3"},
		"first epoch":   {head + "0,2,0,0,0.9,0.1\n", "line 2"},
		"epoch jump":    {head + "0,1,0,0,0.9,0.1\n1,3,0,0,0.9,0.1\n", "line 3"},
		"uneven epochs": {head + "0,1,0,0,0.9,0.1\n1,1,0,0,0.9,0.1\n2,2,0,0,0.9,0.1\n3,3,0,0,0.9,0.1\n", "line 4"},
		"cut short":     {head + "0,1,0,0,0.9,0.1\n1,1,0,0,0.9,0.1\n2,2,0,0,0.9,0.1\n", "line 4"},
	} {
		os.WriteFile(path, []byte(c.content), 0o644)
		_, err := ReadSchedule(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s and %q", name, err, path, c.want)
		}
	}
	if _, err := ReadSchedule(filepath.Join(dir, "none.csv")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestHistoryRoundTrip: history.jsonl reads back what was written; a
// damaged line is an error naming the file and the line.
func TestHistoryRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), HistoryFile)
	recs := []EpochRecord{{Epoch: 1, HeadLosses: []float64{-1.5, -1.25}, Loss: -1.375, LR: 1e-3, TeacherMomentum: 0.99, TeacherTemp: 0.1, Seconds: 2}}
	if err := WriteHistory(path, recs); err != nil {
		t.Fatal(err)
	}
	got, err := ReadHistory(path)
	if err != nil || len(got) != 1 || !slices.Equal(got[0].HeadLosses, recs[0].HeadLosses) || got[0].Loss != recs[0].Loss {
		t.Fatalf("read back %+v, %v", got, err)
	}
	os.WriteFile(path, []byte("{\"epoch\": 1}\nnot json\n"), 0o644)
	if _, err := ReadHistory(path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("damaged history: %v", err)
	}
}

func TestSplitFile(t *testing.T) {
	for name, want := range map[string][2]string{
		"assign_test.npy": {"assign", "test"}, "assign_my_split.npy": {"assign", "my_split"}, "kmeans_train.npy": {"kmeans", "train"},
		"assign_.npy": {}, "probs_test.npy": {}, "assign_test.npz": {},
	} {
		kind, split, ok := SplitFile(name)
		if ok != (want[0] != "") || kind != want[0] || split != want[1] {
			t.Errorf("SplitFile(%q) = %q %q %v, want %q %q", name, kind, split, ok, want[0], want[1])
		}
	}
}
