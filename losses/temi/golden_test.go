package main

// A small harness for testdata/temi_golden.json (a copy of the project's
// shared reference file, produced by the authors' loss classes; see its
// `schema` key): typed loading, flattening and float32-vs-float64
// comparison. Other loss plugins can copy it as is.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"
)

const goldenPath = "testdata/temi_golden.json"

// goldenFile is the part of temi_golden.json the tests read.
type goldenFile struct {
	Cases []goldenCase `json:"cases"`
}

type goldenCase struct {
	Name      string       `json:"name"`
	Loss      string       `json:"loss"` // TEMI, PMI, WMI or SCAN
	Params    goldenParams `json:"params"`
	PkInitial [][]float64  `json:"pk_initial"`
	// Calls run one after the other on one loss object: the prior of
	// call c+1 starts from pk_after of call c.
	Calls []goldenCall `json:"calls"`
}

type goldenParams struct {
	H             int     `json:"H"`
	B             int     `json:"B"`
	K             int     `json:"K"`
	StudentTemp   float64 `json:"student_temp"`
	TeacherTemp   float64 `json:"teacher_temp"`
	Beta          float64 `json:"beta"`
	ProbsMomentum float64 `json:"probs_momentum"`
	Alpha         float64 `json:"alpha"`
}

type goldenCall struct {
	StudentLogits     [][][]float64 `json:"student_logits"` // [H][2B][K]
	TeacherLogits     [][][]float64 `json:"teacher_logits"` // [H][2B][K]
	Weight            []float64     `json:"weight"`         // [B], TEMI only
	HeadLosses        []float64     `json:"head_losses"`    // [H]
	MeanLoss          float64       `json:"mean_loss"`
	PkAfter           [][]float64   `json:"pk_after"`            // [H][K]
	GradStudentLogits [][][]float64 `json:"grad_student_logits"` // [H][2B][K]
	// Float32 repeats the outputs computed in float32 by the reference,
	// to calibrate tolerances.
	Float32 struct {
		HeadLosses        []float64     `json:"head_losses"`
		MeanLoss          float64       `json:"mean_loss"`
		PkAfter           [][]float64   `json:"pk_after"`
		GradStudentLogits [][][]float64 `json:"grad_student_logits"`
	} `json:"float32"`
}

// loadGolden reads the golden file and returns the cases of the given loss.
func loadGolden(t testing.TB, loss string) []goldenCase {
	t.Helper()
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("read golden file: %v (it is a copy of the project's shared temi_golden.json)", err)
	}
	var f goldenFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("decode %s: %v", goldenPath, err)
	}
	var out []goldenCase
	for _, c := range f.Cases {
		if c.Loss == loss {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no %s case", goldenPath, loss)
	}
	return out
}

// flat3 flattens [a][b][c] row-major and checks the dimensions.
func flat3(t testing.TB, what string, x [][][]float64, a, b, c int) []float64 {
	t.Helper()
	out := make([]float64, 0, a*b*c)
	if len(x) != a {
		t.Fatalf("%s: %d rows, want %d", what, len(x), a)
	}
	for _, m := range x {
		if len(m) != b {
			t.Fatalf("%s: inner dimension %d, want %d", what, len(m), b)
		}
		for _, r := range m {
			if len(r) != c {
				t.Fatalf("%s: last dimension %d, want %d", what, len(r), c)
			}
			out = append(out, r...)
		}
	}
	return out
}

// flat2 flattens [a][b] row-major and checks the dimensions.
func flat2(t testing.TB, what string, x [][]float64, a, b int) []float64 {
	t.Helper()
	return flat3(t, what, [][][]float64{x}, 1, a, b)
}

func toFloat32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// tolerance of a float32 computation against a float64 reference:
// |got - want| <= abs + rel*|want|.
type tolerance struct{ abs, rel float64 }

// float32Tol is calibrated on the file's float32 block: the reference's own
// float32 outputs differ from its float64 ones by at most 1.2e-7 absolute
// on every TEMI, PMI and WMI output (and 1e-3 relative on gradients of
// order 1e-10, hence the absolute term).
var float32Tol = tolerance{abs: 1e-6, rel: 1e-4}

// compareFloats reports every element out of tolerance (at most a few) and
// returns the largest absolute error, for the log.
func compareFloats(t testing.TB, what string, got []float32, want []float64, tol tolerance) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return math.Inf(1)
	}
	worst, bad := 0.0, 0
	for i := range want {
		g := float64(got[i])
		d := math.Abs(g - want[i])
		if math.IsNaN(g) || d > tol.abs+tol.rel*math.Abs(want[i]) {
			bad++
			if bad <= 3 {
				t.Errorf("%s[%d] = %.9g, want %.9g (diff %.3g, tolerance %.3g)", what, i, g, want[i], d, tol.abs+tol.rel*math.Abs(want[i]))
			}
		}
		if d > worst || math.IsNaN(d) {
			worst = d
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d of %d values out of tolerance", what, bad, len(want))
	}
	return worst
}

// TestGoldenTolerance checks that the tolerance is loose enough for the
// reference's own float32 results, and far tighter than the outputs'
// scale, so that the golden tests can fail.
func TestGoldenTolerance(t *testing.T) {
	for _, c := range loadGolden(t, "TEMI") {
		p := c.Params
		for i, call := range c.Calls {
			name := fmt.Sprintf("%s call %d", c.Name, i)
			compareFloats(t, name+" float32 head_losses", toFloat32(call.Float32.HeadLosses), call.HeadLosses, float32Tol)
			compareFloats(t, name+" float32 pk_after", toFloat32(flat2(t, "pk", call.Float32.PkAfter, p.H, p.K)), flat2(t, "pk", call.PkAfter, p.H, p.K), float32Tol)
			compareFloats(t, name+" float32 grad", toFloat32(flat3(t, "grad", call.Float32.GradStudentLogits, p.H, 2*p.B, p.K)),
				flat3(t, "grad", call.GradStudentLogits, p.H, 2*p.B, p.K), float32Tol)
			if call.MeanLoss < 100*float32Tol.abs {
				t.Errorf("%s: mean loss %g is not well above the tolerance %g", name, call.MeanLoss, float32Tol.abs)
			}
		}
	}
}
