package losstest

import (
	"fmt"
	"math"
	"testing"
)

// Tolerance of a computation against a reference:
// |got - want| <= Abs + Rel*|want|.
type Tolerance struct{ Abs, Rel float64 }

// Float32Tol is the tolerance of a float32 loss step against a float64
// reference. It is calibrated on the golden file's float32 block: the
// reference's own float32 outputs differ from its float64 ones by at most
// 8e-7 absolute on every TEMI, PMI, WMI and SCAN output (SCAN's losses are
// of order 5), and by up to 3e-3 relative on gradients of order 1e-10,
// hence the absolute term. TestGoldenTolerance checks both claims.
var Float32Tol = Tolerance{Abs: 1e-6, Rel: 1e-4}

// Bound is the largest difference allowed from want.
func (tol Tolerance) Bound(want float64) float64 { return tol.Abs + tol.Rel*math.Abs(want) }

// Mismatch is one value out of tolerance.
type Mismatch struct {
	Index     int
	Got, Want float64
}

// Diff compares got with want: the values out of tolerance (a NaN is
// always out) and the largest absolute difference. Lengths must match.
func Diff(got, want []float64, tol Tolerance) (bad []Mismatch, worst float64) {
	for i := range want {
		d := math.Abs(got[i] - want[i])
		if !(d <= tol.Bound(want[i])) {
			bad = append(bad, Mismatch{Index: i, Got: got[i], Want: want[i]})
		}
		if !(d <= worst) {
			worst = d
		}
	}
	return bad, worst
}

// CompareFloats reports the float32 values out of tolerance against the
// float64 reference (the first three and a count) and returns the largest
// absolute difference, for the log.
func CompareFloats(t testing.TB, what string, got []float32, want []float64, tol Tolerance) float64 {
	t.Helper()
	return CompareFloat64(t, what, ToFloat64(got), want, tol)
}

// CompareFloat64 is CompareFloats for float64 values.
func CompareFloat64(t testing.TB, what string, got, want []float64, tol Tolerance) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return math.Inf(1)
	}
	bad, worst := Diff(got, want, tol)
	for i, m := range bad {
		if i == 3 {
			t.Errorf("%s: %d of %d values out of tolerance", what, len(bad), len(want))
			break
		}
		t.Errorf("%s[%d] = %.9g, want %.9g (diff %.3g, tolerance %.3g)", what, m.Index, m.Got, m.Want, math.Abs(m.Got-m.Want), tol.Bound(m.Want))
	}
	return worst
}

// Flat3 flattens [a][b][c] row-major and checks the dimensions.
func Flat3(t testing.TB, what string, x [][][]float64, a, b, c int) []float64 {
	t.Helper()
	out, err := flat3(x, a, b, c)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return out
}

// Flat2 flattens [a][b] row-major and checks the dimensions.
func Flat2(t testing.TB, what string, x [][]float64, a, b int) []float64 {
	t.Helper()
	return Flat3(t, what, [][][]float64{x}, 1, a, b)
}

func flat3(x [][][]float64, a, b, c int) ([]float64, error) {
	out := make([]float64, 0, a*b*c)
	if len(x) != a {
		return nil, fmt.Errorf("%d rows, want %d", len(x), a)
	}
	for _, m := range x {
		if len(m) != b {
			return nil, fmt.Errorf("inner dimension %d, want %d", len(m), b)
		}
		for _, r := range m {
			if len(r) != c {
				return nil, fmt.Errorf("last dimension %d, want %d", len(r), c)
			}
			out = append(out, r...)
		}
	}
	return out, nil
}

// ToFloat32 converts to float32 (rounding).
func ToFloat32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// ToFloat64 converts to float64 (exactly).
func ToFloat64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// CheckGoldenTolerance checks, on the cases of one loss, that Float32Tol
// is loose enough for the reference's own float32 results and far tighter
// than the loss values, so that the golden tests can fail.
func CheckGoldenTolerance(t *testing.T, loss string) {
	t.Helper()
	for _, c := range LoadGolden(t, loss) {
		p := c.Params
		for i, call := range c.Calls {
			name := fmt.Sprintf("%s call %d float32", c.Name, i)
			CompareFloat64(t, name+" head_losses", roundTrip(call.Float32.HeadLosses), call.HeadLosses, Float32Tol)
			if call.PkAfter != nil {
				CompareFloat64(t, name+" pk_after", roundTrip(Flat2(t, "pk", call.Float32.PkAfter, p.H, p.K)), Flat2(t, "pk", call.PkAfter, p.H, p.K), Float32Tol)
			}
			CompareFloat64(t, name+" grad", roundTrip(Flat3(t, "grad", call.Float32.GradStudentLogits, p.H, 2*p.B, p.K)), c.Grad(t, i), Float32Tol)
			if math.Abs(call.MeanLoss) < 100*Float32Tol.Abs {
				t.Errorf("%s: mean loss %g is not well above the tolerance %g", name, call.MeanLoss, Float32Tol.Abs)
			}
		}
	}
}

// roundTrip rounds to float32 and back, as a float32 output would be.
func roundTrip(x []float64) []float64 { return ToFloat64(ToFloat32(x)) }
