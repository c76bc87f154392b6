package train

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/rundir"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func checkSeq(t *testing.T, name string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values %v, want %d %v", name, len(got), got, len(want), want)
	}
	for i := range want {
		if !near(got[i], want[i], 1e-12) {
			t.Errorf("%s[%d] = %.15g, want %.15g", name, i, got[i], want[i])
		}
	}
}

func TestLinspace(t *testing.T) {
	checkSeq(t, "linspace(0,1,5)", Linspace(0, 1, 5), []float64{0, 0.25, 0.5, 0.75, 1})
	checkSeq(t, "linspace(2,3,1)", Linspace(2, 3, 1), []float64{2})
	checkSeq(t, "linspace(2,3,0)", Linspace(2, 3, 0), []float64{})
}

func TestCosineSchedule(t *testing.T) {
	// Warm-up epoch: linspace(0, 1, 2) = [0, 1]; then T = 2 cosine values
	// 0 + 0.5*(1+cos(0)) = 1 and 0.5*(1+cos(pi/2)) = 0.5.
	checkSeq(t, "lr", CosineSchedule(1, 0, 2, 2, 1, 0), []float64{0, 1, 1, 0.5})
	// Teacher momentum 0.996 -> 1 over 4 iterations:
	// 1 - 0.004*(1+cos(i*pi/4))/2.
	checkSeq(t, "momentum", CosineSchedule(0.996, 1, 1, 4, 0, 0),
		[]float64{0.996, 0.99658578643762690, 0.998, 0.99941421356237310})
	// A non-zero warm-up start.
	checkSeq(t, "warm start", CosineSchedule(2, 2, 2, 3, 1, 0.5), []float64{0.5, 1.25, 2, 2, 2, 2})
}

func TestTeacherTempSchedule(t *testing.T) {
	checkSeq(t, "temp", TeacherTempSchedule(0.04, 0.07, 3, 5), []float64{0.04, 0.055, 0.07, 0.07, 0.07})
	// A warm-up longer than the run is cut off.
	checkSeq(t, "long warm-up", TeacherTempSchedule(0.04, 0.07, 31, 2), []float64{0.04, 0.041})
	checkSeq(t, "no warm-up", TeacherTempSchedule(0.04, 0.07, 0, 2), []float64{0.07, 0.07})
}

// TestReferenceRecipeSchedules: the defaults on CIFAR (50000 embeddings,
// batch 1024, so 48 iterations per epoch) give the schedules of docs/TEMI.md section 8.
func TestReferenceRecipeSchedules(t *testing.T) {
	opts := resolvedOptions(t, pmiLoss{}, nil)
	c, err := newConfig(opts)
	if err != nil {
		t.Fatal(err)
	}
	s := newSchedules(c, 50000/c.BatchSize)
	if len(s.LR) != 4800 || s.FrozenIters != 48 {
		t.Fatalf("%d iterations, %d frozen; want 4800 and 48", len(s.LR), s.FrozenIters)
	}
	peak := 1e-4 * 1024 / 256
	for it, want := range map[int]float64{0: 0, 1: peak / 959, 959: peak, 960: peak, 4799: peak} {
		if !near(s.LR[it], want, 1e-18) {
			t.Errorf("lr[%d] = %g, want %g", it, s.LR[it], want)
		}
	}
	for it := range s.LR {
		if s.WD[it] != 1e-4 || s.Momentum[it] != 0.996 {
			t.Fatalf("iteration %d: wd %g momentum %g, want 1e-4 and 0.996", it, s.WD[it], s.Momentum[it])
		}
	}
	for e, v := range s.TeacherTemp {
		if !near(v, 0.1, 1e-15) {
			t.Fatalf("teacher temperature of epoch %d = %g, want 0.1", e, v)
		}
	}
}

func TestStepScalars(t *testing.T) {
	c := config{Epochs: 2, BatchSize: 512, LR: 0.05, MinLR: 0.05, WeightDecay: 0.5, WeightDecayEnd: 0.5,
		MomentumTeacher: 0.9, MaxMomentumTeacher: 0.9, FreezeLastLayer: 1,
		WarmupTeachTemp: 0.04, TeacherTemp: 0.07, WarmupTeacherTempEpochs: 2}
	s := newSchedules(c, 3) // lr = 0.05 * 512/256 = 0.1
	want := map[int][]float64{
		// decay, stepBody, bc2Body, stepLast, bc2Last, update, m, 1-m, T
		0: {0.95, 1, math.Sqrt(0.001), 0, 1, 0, 0.9, 0.1, 0.04},
		2: {0.95, 0.1 / (1 - 0.729), math.Sqrt(1 - math.Pow(0.999, 3)), 0, 1, 0, 0.9, 0.1, 0.04},
		3: {0.95, 0.1 / (1 - 0.6561), math.Sqrt(1 - math.Pow(0.999, 4)), 1, math.Sqrt(0.001), 1, 0.9, 0.1, 0.07},
		5: {0.95, 0.1 / (1 - math.Pow(0.9, 6)), math.Sqrt(1 - math.Pow(0.999, 6)), 0.1 / (1 - 0.729), math.Sqrt(1 - math.Pow(0.999, 3)), 1, 0.9, 0.1, 0.07},
	}
	for it, w := range want {
		got := s.stepScalars(it)
		for i := range w {
			if !near(float64(got[i]), w[i], 1e-6*math.Max(1, math.Abs(w[i]))) {
				t.Errorf("iteration %d scalar %d = %g, want %g", it, i, got[i], w[i])
			}
		}
	}
}

func TestDescribe(t *testing.T) {
	l := NewLoss(pmiLoss{})
	ctx := context.Background()
	d, err := l.Describe(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != core.KindLoss || d.Name != "testpmi" || d.Version != "0.1" || d.Identity != "" {
		t.Errorf("description %+v", d)
	}
	names := map[string]bool{}
	for _, o := range d.Options {
		names[o.Name] = true
	}
	for _, n := range []string{OptHeads, OptEpochs, OptBatchSize, OptLR, OptKNN, OptFreezeLastLayer, "beta", "probs_momentum"} {
		if !names[n] {
			t.Errorf("schema lacks %q", n)
		}
	}
	d1, err := l.Describe(ctx, core.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := l.Describe(ctx, core.Options{"beta": "0.7", OptEpochs: 30})
	if err != nil {
		t.Fatal(err)
	}
	if d1.Identity == "" || d1.Identity == d2.Identity {
		t.Errorf("identities %q and %q: want non-empty and different", d1.Identity, d2.Identity)
	}
	if d3, err := l.Describe(ctx, core.Options{OptCheckpointEvery: 5}); err != nil || d3.Identity != d1.Identity {
		t.Errorf("checkpoint_every changed the identity: %q vs %q (%v)", d3.Identity, d1.Identity, err)
	}
	for _, bad := range []core.Options{
		{OptBatchSize: 1}, {"no_such_option": 1}, {OptEpochs: 10, OptWarmupEpochs: 11}, {OptStudentTemp: 0}, {"beta": "x"},
	} {
		if _, err := l.Describe(ctx, bad); err == nil {
			t.Errorf("options %v accepted", bad)
		}
	}
	if _, err := NewLoss(clashLoss{}).Describe(ctx, nil); err == nil || !strings.Contains(err.Error(), `"lr"`) {
		t.Errorf("option clash: %v", err)
	}
}

// clashLoss declares an option of the trainer's.
type clashLoss struct{ pmiLoss }

func (clashLoss) Describe() core.Description {
	d := pmiLoss{}.Describe()
	d.Options = append(d.Options, core.Option{Name: OptLR, Type: core.TypeFloat, Default: 1.0})
	return d
}

// TestScheduleCSV: schedule.csv holds every step's values exactly (the
// shortest 'g' form reads back to the same float64) and is a pure function
// of the schedules, so a rewrite gives the same bytes.
func TestScheduleCSV(t *testing.T) {
	tenth := 0.1 // a variable: 0.1 + 0.2 of constants would be exactly 0.3
	s := schedules{
		LR:            []float64{0, tenth + 0.2, 1e-5, 2.5e-4},
		WD:            []float64{1e-4, 1e-4, 0.04, 0.4},
		Momentum:      []float64{0.996, 0.9965857864376269, 0.998, 1},
		TeacherTemp:   []float64{0.04, 0.07},
		ItersPerEpoch: 2,
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "schedule.csv")
	if err := s.writeCSV(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := rundir.ScheduleHeader + "\n" +
		"0,1,0,0.0001,0.996,0.04\n" +
		"1,1,0.30000000000000004,0.0001,0.9965857864376269,0.04\n" +
		"2,2,1e-05,0.04,0.998,0.07\n" +
		"3,2,0.00025,0.4,1,0.07\n"
	if string(b) != want {
		t.Errorf("schedule.csv:\n%s\nwant:\n%s", b, want)
	}
	if err := s.writeCSV(path); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(path); !bytes.Equal(b, b2) {
		t.Error("rewriting schedule.csv changed its bytes")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}
