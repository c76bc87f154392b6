package losstest

import (
	"math"
	"testing"
)

// TestDiff: values out of tolerance and NaN are reported, the rest not.
func TestDiff(t *testing.T) {
	tol := Tolerance{Abs: 1e-6, Rel: 1e-4}
	want := []float64{1, 1e-10, -2, 3}
	got := []float64{1 + 5e-5, 2e-10, -2.001, math.NaN()}
	bad, worst := Diff(got, want, tol)
	if len(bad) != 2 || bad[0].Index != 2 || bad[1].Index != 3 {
		t.Fatalf("mismatches %+v, want indices 2 (off by 1e-3) and 3 (NaN)", bad)
	}
	if !math.IsNaN(worst) {
		t.Errorf("worst %v, want NaN", worst)
	}
	if bad, worst := Diff(got[:2], want[:2], tol); len(bad) != 0 || math.Abs(worst-5e-5) > 1e-12 {
		t.Errorf("in tolerance: mismatches %+v, worst %v", bad, worst)
	}
}

func TestFlat3(t *testing.T) {
	x := [][][]float64{{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}}
	got, err := flat3(x, 2, 2, 2)
	if err != nil || len(got) != 8 || got[5] != 6 {
		t.Fatalf("flat3 = %v, %v", got, err)
	}
	for _, dims := range [][3]int{{3, 2, 2}, {2, 1, 2}, {2, 2, 3}} {
		if _, err := flat3(x, dims[0], dims[1], dims[2]); err == nil {
			t.Errorf("dimensions %v accepted for a [2][2][2] array", dims)
		}
	}
}

// TestRefGrad: central differences of a known function.
func TestRefGrad(t *testing.T) {
	// mean over 2 heads of sum_i x_i^2 * (h+1), with x the student.
	ref := func(pr Problem) Result {
		r := Result{PerHead: make([]float64, 2)}
		for h := range 2 {
			for _, v := range pr.Student {
				r.PerHead[h] += v * v * float64(h+1)
			}
		}
		return r
	}
	pr := Problem{Student: []float64{1, -2, 0.5}}
	want := []float64{3, -6, 1.5} // d/dx of 1.5 x^2
	CompareFloat64(t, "grad", RefGrad(ref, pr), want, Tolerance{Abs: 1e-8})
	if pr.Student[1] != -2 {
		t.Errorf("RefGrad changed the problem: %v", pr.Student)
	}
}

func TestSoftmaxAndPartner(t *testing.T) {
	p := Softmax([]float64{0, 0, 1000, 1000, 1000, 0}, 3, 0.1)
	CompareFloat64(t, "softmax", p, []float64{0, 0, 1, 0.5, 0.5, 0}, Tolerance{Abs: 1e-12})
	for r, want := range []int{3, 4, 5, 0, 1, 2} {
		if got := Partner(r, 3); got != want {
			t.Errorf("Partner(%d, 3) = %d, want %d", r, got, want)
		}
	}
}

// TestSharpProblemUnderflows: the sharp problem is hard for a direct
// float32 implementation, the random one is not.
func TestSharpProblemUnderflows(t *testing.T) {
	if p, r := Underflows(SharpProblem(3, nil)); p == 0 || r == 0 {
		t.Errorf("sharp problem: %d products and %d rows underflow, want some of each", p, r)
	}
	if p, _ := Underflows(RandomProblem(1, 2, 8, 5, nil)); p != 0 {
		t.Errorf("random problem: %d products underflow, want none", p)
	}
}
