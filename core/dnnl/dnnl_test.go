//go:build dnnl

package dnnl

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func randMat(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// at reads op(x)[i,j] of a row-major matrix stored [rows,cols] (or its
// transpose when t).
func at(x []float32, cols int, t bool, i, j int) float64 {
	if t {
		return float64(x[j*cols+i])
	}
	return float64(x[i*cols+j])
}

// reference returns op(a).op(b) in float64 and, per element, the sum of
// |a_il| |b_lj|, which scales every error bound.
func reference(a, b []float32, m, k, n int, ta, tb bool) (want, mag []float64) {
	want, mag = make([]float64, m*n), make([]float64, m*n)
	colsA, colsB := k, n
	if ta {
		colsA = m
	}
	if tb {
		colsB = k
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, g float64
			for l := 0; l < k; l++ {
				x, y := at(a, colsA, ta, i, l), at(b, colsB, tb, l, j)
				s += x * y
				g += math.Abs(x * y)
			}
			want[i*n+j], mag[i*n+j] = s, g
		}
	}
	return want, mag
}

// bound is the largest error of one element over sum |a||b|: fp32
// accumulation of k terms in any order (gamma_k, unit roundoff 2^-24)
// and, for BF16, both inputs rounded to nearest bfloat16 (8 significant
// bits, unit roundoff u = 2^-8): |bf(x)bf(y) - xy| <= (2u+u^2)|xy|.
func bound(k int, prec Precision) float64 {
	u32 := math.Ldexp(1, -24)
	gamma := float64(k) * u32 / (1 - float64(k)*u32)
	if prec == F32 {
		return gamma
	}
	u := math.Ldexp(1, -8)
	in := 2*u + u*u
	return in + gamma*(1+in)
}

var shapes = [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 33, 15}, {16, 16, 16}, {64, 100, 31}, {129, 47, 260}, {200, 784, 70}}

func TestMatMulAgainstFloat64(t *testing.T) {
	t.Logf("oneDNN %s, %d threads", Version(), mustThreads(t))
	r := rand.New(rand.NewPCG(7, 8))
	for _, prec := range []Precision{F32, BF16} {
		worst, worstRow := 0.0, 0.0 // observed error / sum|a||b|, and / (|row of a| |column of b|)
		for _, s := range shapes {
			m, k, n := s[0], s[1], s[2]
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					a, b := randMat(r, m*k), randMat(r, k*n)
					want, mag := reference(a, b, m, k, n, ta, tb)
					got := randMat(r, m*n) // garbage: MatMul must overwrite
					if err := MatMul(got, a, b, m, k, n, ta, tb, prec); err != nil {
						t.Fatal(err)
					}
					name := fmt.Sprintf("%s %dx%dx%d ta=%v tb=%v", prec, m, k, n, ta, tb)
					e, er := check(t, name, got, want, mag, a, b, m, k, n, ta, tb, bound(k, prec))
					worst, worstRow = math.Max(worst, e), math.Max(worstRow, er)

					// Accumulating: dst0 + product, the bound grows by one
					// fp32 addition.
					dst0 := randMat(r, m*n)
					got = append([]float32(nil), dst0...)
					if err := MatMulAdd(got, a, b, m, k, n, ta, tb, prec); err != nil {
						t.Fatal(err)
					}
					wantAdd, magAdd := make([]float64, m*n), make([]float64, m*n)
					for i := range wantAdd {
						wantAdd[i] = want[i] + float64(dst0[i])
						magAdd[i] = mag[i] + math.Abs(float64(dst0[i]))
					}
					check(t, name+" add", got, wantAdd, magAdd, a, b, m, k, n, ta, tb, bound(k+1, prec))
				}
			}
		}
		t.Logf("%s: worst error %.3g of sum|a||b| (bound at k 784: %.3g), %.3g of |row a|.|col b|", prec, worst, bound(784, prec), worstRow)
	}
}

// check fails the test where an element is off by more than rel times
// its sum |a||b|; it returns the worst error relative to that and to the
// product of the row's and column's norms.
func check(t *testing.T, name string, got []float32, want, mag []float64, a, b []float32, m, k, n int, ta, tb bool, rel float64) (float64, float64) {
	t.Helper()
	colsA, colsB := k, n
	if ta {
		colsA = m
	}
	if tb {
		colsB = k
	}
	var worst, worstRow float64
	bad := 0
	for i := 0; i < m; i++ {
		var ra float64
		for l := 0; l < k; l++ {
			ra += at(a, colsA, ta, i, l) * at(a, colsA, ta, i, l)
		}
		for j := 0; j < n; j++ {
			var cb float64
			for l := 0; l < k; l++ {
				cb += at(b, colsB, tb, l, j) * at(b, colsB, tb, l, j)
			}
			x := i*n + j
			e := math.Abs(float64(got[x]) - want[x])
			if e > rel*mag[x]+1e-30 {
				if bad < 5 {
					t.Errorf("%s: [%d,%d] = %g, want %g (error %.3g > bound %.3g)", name, i, j, got[x], want[x], e, rel*mag[x])
				}
				bad++
			}
			if mag[x] > 0 {
				worst = math.Max(worst, e/mag[x])
			}
			if nr := math.Sqrt(ra * cb); nr > 0 {
				worstRow = math.Max(worstRow, e/nr)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements beyond the bound", name, bad, m*n)
	}
	return worst, worstRow
}

func mustThreads(t *testing.T) int {
	t.Helper()
	n, err := Threads()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBF16RoundsInputs(t *testing.T) {
	// bfloat16 keeps 7 fraction bits: 1 + 2^-8 lies halfway between 1 and
	// 1 + 2^-7 and rounds to the even one, 1; 1 + 3*2^-8 lies halfway
	// between 1 + 2^-7 and 1 + 2^-6 and rounds to the even one, 1 + 2^-6.
	// Truncation would give 1 + 2^-7 for the second.
	a := []float32{1 + 1.0/256, 1 + 3.0/256}
	b := []float32{1, 1}
	dst := make([]float32, 1)
	if err := MatMul(dst, a, b, 1, 2, 1, false, false, BF16); err != nil {
		t.Fatal(err)
	}
	if want := float32(1 + 1 + 1.0/64); dst[0] != want {
		t.Errorf("bf16 1x2x1 = %v, want %v (inputs rounded to nearest even bfloat16)", dst[0], want)
	}
	if err := MatMul(dst, a, b, 1, 2, 1, false, false, F32); err != nil {
		t.Fatal(err)
	}
	if want := float32(2 + 4.0/256); dst[0] != want {
		t.Errorf("f32 1x2x1 = %v, want %v", dst[0], want)
	}
}

func TestPlanCacheReused(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	m, k, n := 37, 29, 41
	a, b, dst := randMat(r, m*k), randMat(r, k*n), make([]float32, m*n)
	if err := MatMul(dst, a, b, m, k, n, true, false, BF16); err != nil {
		t.Fatal(err)
	}
	s0, err := Stats()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		// New buffers each time: the plan holds no pointer to the old ones.
		a, b, dst = randMat(r, m*k), randMat(r, k*n), make([]float32, m*n)
		if err := MatMul(dst, a, b, m, k, n, true, false, BF16); err != nil {
			t.Fatal(err)
		}
	}
	s1, _ := Stats()
	if s1.Misses != s0.Misses || s1.Hits != s0.Hits+5 {
		t.Errorf("5 repeated products: hits %d -> %d, misses %d -> %d; want 5 hits, no miss", s0.Hits, s1.Hits, s0.Misses, s1.Misses)
	}
	// Another precision, transpose or accumulation is another plan.
	if err := MatMulAdd(dst, a, b, m, k, n, true, false, BF16); err != nil {
		t.Fatal(err)
	}
	if s2, _ := Stats(); s2.Misses != s1.Misses+1 {
		t.Errorf("accumulating product: misses %d -> %d, want a new plan", s1.Misses, s2.Misses)
	}
}

func TestSetThreads(t *testing.T) {
	n0 := mustThreads(t)
	defer func() {
		if err := SetThreads(n0); err != nil {
			t.Error(err)
		}
	}()
	r := rand.New(rand.NewPCG(3, 3))
	m, k, n := 70, 90, 110
	a, b := randMat(r, m*k), randMat(r, k*n)
	want := make([]float32, m*n)
	if err := MatMul(want, a, b, m, k, n, false, true, F32); err != nil {
		t.Fatal(err)
	}
	if err := SetThreads(1); err != nil {
		t.Fatal(err)
	}
	if got := mustThreads(t); got != 1 {
		t.Fatalf("Threads() = %d after SetThreads(1)", got)
	}
	if s, _ := Stats(); s.Plans != 0 {
		t.Errorf("%d plans cached after a thread change, want 0", s.Plans)
	}
	got := make([]float32, m*n)
	if err := MatMul(got, a, b, m, k, n, false, true, F32); err != nil {
		t.Fatal(err)
	}
	wantD, mag := reference(a, b, m, k, n, false, true)
	check(t, "1 thread", got, wantD, mag, a, b, m, k, n, false, true, bound(k, F32))
	if err := SetThreads(0); !errors.Is(err, ErrShape) {
		t.Errorf("SetThreads(0) = %v, want ErrShape", err)
	}
}

func TestBadShapesRejected(t *testing.T) {
	buf := make([]float32, 100)
	a, b, dst := make([]float32, 6), make([]float32, 12), make([]float32, 8)
	cases := []struct {
		name       string
		run        func() error
		wantSubstr string
	}{
		{"short a", func() error { return MatMul(dst, a[:5], b, 2, 3, 4, false, false, F32) }, "a holds 5"},
		{"short b transposed", func() error { return MatMul(dst, a, b[:11], 2, 3, 4, false, true, F32) }, "[4,3] matrix"},
		{"short dst", func() error { return MatMul(dst[:7], a, b, 2, 3, 4, false, false, BF16) }, "dst holds 7"},
		{"zero m", func() error { return MatMul(dst, a, b, 0, 3, 4, false, false, F32) }, "at least 1"},
		{"negative k", func() error { return MatMul(dst, a, b, 2, -3, 4, false, false, F32) }, "at least 1"},
		{"nil slices", func() error { return MatMul(nil, nil, nil, 1, 1, 1, false, false, F32) }, "holds 0"},
		{"huge", func() error { return MatMul(dst, a, b, 1<<30, 1<<30, 4, false, false, F32) }, "too large"},
		{"precision", func() error { return MatMul(dst, a, b, 2, 3, 4, false, false, Precision(7)) }, "unknown precision"},
		{"dst aliases a", func() error { return MatMul(buf[4:], buf, b, 2, 3, 4, false, false, F32) }, "overlaps"},
		{"dst aliases b", func() error { return MatMulAdd(buf, a, buf[7:], 2, 3, 4, false, false, F32) }, "overlaps"},
		{"impl zero n", func() error { _, err := Impl(2, 3, 0, false, false, F32); return err }, "at least 1"},
	}
	for _, c := range cases {
		err := c.run()
		if !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), c.wantSubstr) {
			t.Errorf("%s: error %v, want ErrShape saying %q", c.name, err, c.wantSubstr)
		}
	}
	// Adjacent but not overlapping is fine.
	if err := MatMul(buf[6:14], buf[:6], b, 2, 3, 4, false, false, F32); err != nil {
		t.Errorf("adjacent buffers: %v", err)
	}
}

func TestImplNamesKernel(t *testing.T) {
	for _, prec := range []Precision{F32, BF16} {
		impl, err := Impl(512, 784, 8192, false, true, prec)
		if err != nil {
			t.Fatal(err)
		}
		if impl == "" {
			t.Errorf("%s: empty implementation name", prec)
		}
		t.Logf("%s 512x784x8192: %s", prec, impl)
	}
}

func TestConcurrentCallers(t *testing.T) {
	// Products from many goroutines run one at a time on the worker
	// thread; each must get its own result.
	const callers = 8
	m, k, n := 33, 65, 47
	errs := make(chan error, callers)
	for g := 0; g < callers; g++ {
		go func(g int) {
			r := rand.New(rand.NewPCG(uint64(g), 9))
			a, b := randMat(r, m*k), randMat(r, k*n)
			want, mag := reference(a, b, m, k, n, g%2 == 0, g%3 == 0)
			got := make([]float32, m*n)
			for i := 0; i < 5; i++ {
				if err := MatMul(got, a, b, m, k, n, g%2 == 0, g%3 == 0, F32); err != nil {
					errs <- err
					return
				}
				for x := range got {
					if e := math.Abs(float64(got[x]) - want[x]); e > bound(k, F32)*mag[x]+1e-30 {
						errs <- fmt.Errorf("caller %d, round %d: element %d = %g, want %g", g, i, x, got[x], want[x])
						return
					}
				}
			}
			errs <- nil
		}(g)
	}
	for g := 0; g < callers; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
