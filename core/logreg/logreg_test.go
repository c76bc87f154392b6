package logreg

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
)

type goldenFit struct {
	MaxIter   int         `json:"max_iter"`
	NIter     int         `json:"n_iter"`
	Loss      float64     `json:"loss"`
	Coef      [][]float64 `json:"coef"`
	Intercept []float64   `json:"intercept"`
	TestAcc   float64     `json:"test_acc"`
	Pred      []int32     `json:"pred"`
}

type goldenSet struct {
	Name     string      `json:"name"`
	NTrain   int         `json:"n_train"`
	NTest    int         `json:"n_test"`
	D        int         `json:"d"`
	K        int         `json:"k"`
	YTrain   []int32     `json:"y_train"`
	YTest    []int32     `json:"y_test"`
	Fits     []goldenFit `json:"fits"`
	Folds    [][]int     `json:"folds"`
	CVScores []float64   `json:"cv_scores"`
	CVMean   float64     `json:"cv_mean"`
}

type golden struct {
	Datasets  []goldenSet `json:"datasets"`
	FoldCases []struct {
		Y     []int32 `json:"y"`
		Folds [][]int `json:"folds"`
	} `json:"fold_cases"`
}

func loadGolden(t *testing.T) golden {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func loadX(t *testing.T, ds goldenSet) (xtr, xte []float32) {
	t.Helper()
	x, shape, err := npy.ReadFloat32(filepath.Join("testdata", ds.Name+"_x.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if shape[0] != ds.NTrain+ds.NTest || shape[1] != ds.D {
		t.Fatalf("%s: shape %v", ds.Name, shape)
	}
	return x[:ds.NTrain*ds.D], x[ds.NTrain*ds.D:]
}

// TestAgainstSklearn is issue 14's acceptance: test accuracy within 0.5
// points of sklearn's LogisticRegression(lbfgs, C=1), and the objective at
// the optimum.
func TestAgainstSklearn(t *testing.T) {
	g := loadGolden(t)
	for _, prec := range precisions {
		for _, ds := range g.Datasets {
			xtr, xte := loadX(t, ds)
			for _, gf := range ds.Fits {
				m, err := Fit(context.Background(), xtr, ds.NTrain, ds.D, ds.YTrain, ds.K, Options{MaxIter: gf.MaxIter, Float32: prec.float32})
				if err != nil {
					t.Fatalf("%s max_iter=%d: %v", ds.Name, gf.MaxIter, err)
				}
				pred, err := m.Predict(xte, ds.NTest)
				if err != nil {
					t.Fatal(err)
				}
				right, agree := 0, 0
				for i, p := range pred {
					if p == ds.YTest[i] {
						right++
					}
					if p == gf.Pred[i] {
						agree++
					}
				}
				acc := float64(right) / float64(ds.NTest)
				rel := (m.Loss - gf.Loss) / gf.Loss
				maxCoef := 0.0
				for r, row := range gf.Coef {
					for j, v := range row {
						maxCoef = math.Max(maxCoef, math.Abs(m.Coef[r*ds.D+j]-v))
					}
				}
				t.Logf("%s %s max_iter=%d: go iters %d (%s) sklearn %d; test acc go %.4f sklearn %.4f (delta %+.2f points); prediction agreement %.4f; loss go %.10g sklearn %.10g rel diff %+.3g; max |coef diff| %.3g",
					prec.name, ds.Name, gf.MaxIter, m.Iterations, m.Status, gf.NIter, acc, gf.TestAcc, 100*(acc-gf.TestAcc),
					float64(agree)/float64(ds.NTest), m.Loss, gf.Loss, rel, maxCoef)
				if math.Abs(acc-gf.TestAcc) > 0.005+1e-12 {
					t.Errorf("%s %s max_iter=%d: test accuracy %.4f vs sklearn %.4f: more than 0.5 points apart", prec.name, ds.Name, gf.MaxIter, acc, gf.TestAcc)
				}
				// In float64 the iterates follow scipy's (same L-BFGS memory,
				// line search and stopping tests), so even a fit stopped by
				// max_iter lands where sklearn's does; allow one iteration of
				// rounding drift. In float32 the path drifts more.
				if d := m.Iterations - gf.NIter; d < -prec.iterSlack || d > prec.iterSlack {
					t.Errorf("%s %s max_iter=%d: %d iterations, sklearn %d", prec.name, ds.Name, gf.MaxIter, m.Iterations, gf.NIter)
				}
				if math.Abs(rel) > prec.lossTol {
					t.Errorf("%s %s max_iter=%d: objective %.10g vs sklearn %.10g, %.3g relative", prec.name, ds.Name, gf.MaxIter, m.Loss, gf.Loss, rel)
				}
			}
		}
	}
}

// precisions are the two ways of computing the products, with how close
// to sklearn each must land on the fixtures (objective relative to
// sklearn's, iterations).
var precisions = []struct {
	name      string
	float32   bool
	lossTol   float64
	iterSlack int
}{
	{"float64", false, 1e-6, 1},
	{"float32", true, 1e-5, 30},
}

func TestFoldsMatchStratifiedKFold(t *testing.T) {
	g := loadGolden(t)
	check := func(name string, y []int32, want [][]int) {
		test, err := StratifiedFolds(y, 10, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for f, idx := range want {
			var got []int
			for i, tf := range test {
				if tf == f {
					got = append(got, i)
				}
			}
			if !slices.Equal(got, idx) {
				t.Fatalf("%s fold %d: got %v, sklearn %v", name, f, got, idx)
			}
		}
		t.Logf("%s: %d samples, 10 folds identical to StratifiedKFold", name, len(y))
	}
	for _, ds := range g.Datasets {
		check(ds.Name, ds.YTrain, ds.Folds)
	}
	for i, c := range g.FoldCases {
		check("fold_case_"+string(rune('0'+i)), c.Y, c.Folds)
	}
	if MinClassCount(g.FoldCases[0].Y) != 1 {
		t.Errorf("fold case 0 should hold a one-member class")
	}
}

func TestCrossValidateAgainstSklearn(t *testing.T) {
	g := loadGolden(t)
	for _, ds := range g.Datasets {
		xtr, _ := loadX(t, ds)
		test, err := StratifiedFolds(ds.YTrain, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, prec := range precisions {
			cv, err := CrossValidate(context.Background(), xtr, ds.NTrain, ds.D, ds.YTrain, ds.K, test, Options{Float32: prec.float32}, nil)
			if err != nil {
				t.Fatal(err)
			}
			mean, per := cv.Mean, cv.Accuracy
			maxFold := 0.0
			for f := range per {
				maxFold = math.Max(maxFold, math.Abs(per[f]-ds.CVScores[f]))
			}
			t.Logf("%s %s: 10-fold CV mean go %.4f sklearn %.4f (delta %+.2f points); largest per-fold delta %.2f points",
				prec.name, ds.Name, mean, ds.CVMean, 100*(mean-ds.CVMean), 100*maxFold)
			if math.Abs(mean-ds.CVMean) > 0.005 {
				t.Errorf("%s %s: CV mean %.4f vs sklearn %.4f", prec.name, ds.Name, mean, ds.CVMean)
			}
		}
	}
}

func TestAbsentClassesAndProba(t *testing.T) {
	// Labels 0, 2 and 4 of k = 5: the model predicts only those and gives
	// the others probability 0.
	rng := rand.New(rand.NewPCG(1, 2))
	n, d, k := 90, 3, 5
	x := make([]float32, n*d)
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(2 * (i % 3))
		for j := 0; j < d; j++ {
			x[i*d+j] = float32(rng.NormFloat64())
		}
		x[i*d+i%3] += 3
	}
	m, err := Fit(context.Background(), x, n, d, y, k, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Classes, []int32{0, 2, 4}) {
		t.Fatalf("classes %v", m.Classes)
	}
	p, err := m.Proba(x, n)
	if err != nil {
		t.Fatal(err)
	}
	pred, _ := m.Predict(x, n)
	for i := 0; i < n; i++ {
		row := p[i*k : (i+1)*k]
		if row[1] != 0 || row[3] != 0 {
			t.Fatalf("absent classes have probability: %v", row)
		}
		s := row[0] + row[2] + row[4]
		if math.Abs(s-1) > 1e-12 {
			t.Fatalf("row %d sums to %v", i, s)
		}
		best := int32(0)
		for c := range row {
			if row[c] > row[best] {
				best = int32(c)
			}
		}
		if best != pred[i] {
			t.Fatalf("row %d: Predict %d but Proba argmax %d", i, pred[i], best)
		}
	}
	// Binary: Proba agrees with Predict too.
	yb := make([]int32, n)
	for i := range yb {
		yb[i] = 3 * int32(i%2)
		x[i*d] += float32(2 * (i % 2))
	}
	mb, err := Fit(context.Background(), x, n, d, yb, k, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(mb.Intercept) != 1 {
		t.Fatalf("binary fit has %d rows, want 1 as sklearn", len(mb.Intercept))
	}
	pb, _ := mb.Proba(x, n)
	predb, _ := mb.Predict(x, n)
	for i := 0; i < n; i++ {
		if (pb[i*k+3] > 0.5) != (predb[i] == 3) {
			t.Fatalf("binary row %d: proba %v predict %d", i, pb[i*k:(i+1)*k], predb[i])
		}
	}
}

// evalAt returns the objective of j at w and its gradient, evaluated by
// a batch of one on threads workers.
func evalAt(ds *dataset, j *job, w []float64, threads int) (float64, []float64) {
	initBLAS()
	b := newBatch(ds, threads)
	j.w = w
	b.evaluate([]*job{j})
	return j.f, append([]float64(nil), j.grad...)
}

func randomData(rng *rand.Rand, n, d, k int) *dataset {
	x := make([]float64, n*d)
	for i := range x {
		x[i] = float64(float32(rng.NormFloat64()))
	}
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(rng.IntN(k))
	}
	fold := make([]int32, n)
	for i := range fold {
		fold[i] = int32(i % 3)
	}
	return &dataset{x: x, n: n, d: d, y: y, k: k, fold: fold}
}

// TestGradient checks the analytic gradient against central differences,
// binomial and multinomial, with and without a left-out fold.
func TestGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, classes := range []int{2, 4} {
		for _, fold := range []int{-1, 1} {
			ds := randomData(rng, 30, 5, classes)
			j, err := newJob(ds, 0, fold, Options{C: 1 / 0.7})
			if err != nil {
				t.Fatal(err)
			}
			w := make([]float64, j.dim())
			for i := range w {
				w[i] = rng.NormFloat64()
			}
			_, g := evalAt(ds, j, w, 1)
			for i := range w {
				h := 1e-6
				w0 := w[i]
				w[i] = w0 + h
				fp, _ := evalAt(ds, j, w, 1)
				w[i] = w0 - h
				fm, _ := evalAt(ds, j, w, 1)
				w[i] = w0
				num := (fp - fm) / (2 * h)
				if math.Abs(num-g[i]) > 1e-5*math.Max(1, math.Abs(num)) {
					t.Fatalf("classes=%d fold=%d param %d: analytic %v numeric %v", classes, fold, i, g[i], num)
				}
			}
		}
	}
}

// TestBatchEqualsSeparate: a fit's objective is the same whether its fold
// is left out by the mask or the rows are removed, whether it is stacked
// with other fits or alone, and on one or several workers (up to
// rounding). This is what lets CrossValidate fit the folds together.
func TestBatchEqualsSeparate(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	n, d, k := 1500, 7, 5
	ds := randomData(rng, n, d, k)
	// Class 4 only in fold 2's rows: fold 2's fit (which leaves them out)
	// has 4 classes, the others 5, so the stacked fits differ in width.
	for i := range ds.y {
		if ds.y[i] == 4 && ds.fold[i] != 2 {
			ds.y[i] = 0
		}
	}
	var jobs []*job
	ws := map[int][]float64{}
	for f := 0; f < 3; f++ {
		j, err := newJob(ds, f, f, Options{C: 1, Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		w := make([]float64, j.dim())
		for i := range w {
			w[i] = 0.3 * rng.NormFloat64()
		}
		ws[f] = w
		jobs = append(jobs, j)
	}
	if got := len(jobs[2].classes); got != 4 {
		t.Fatalf("fold 2's fit has %d classes, want 4 (class 4 is only in its held-out rows)", got)
	}
	if got := len(jobs[0].classes); got != 5 {
		t.Fatalf("fold 0's fit has %d classes, want 5", got)
	}
	b := newBatch(ds, 2)
	initBLAS()
	for _, j := range jobs {
		j.w = ws[j.idx]
	}
	// Out of order on purpose: the batch sorts.
	b.evaluate([]*job{jobs[2], jobs[0], jobs[1]})
	for _, j := range jobs {
		// The same fit on its training rows alone, one worker.
		var x []float64
		var y []int32
		for i := 0; i < n; i++ {
			if int(ds.fold[i]) != j.fold {
				x = append(x, ds.x[i*d:(i+1)*d]...)
				y = append(y, ds.y[i])
			}
		}
		sub := &dataset{x: x, n: len(y), d: d, y: y, k: k, fold: make([]int32, len(y))}
		alone, err := newJob(sub, 0, -1, Options{C: 1})
		if err != nil {
			t.Fatal(err)
		}
		f, g := evalAt(sub, alone, ws[j.idx], 1)
		if math.Abs(f-j.f) > 1e-12*math.Abs(f) {
			t.Errorf("fold %d: objective %v stacked, %v alone", j.fold, j.f, f)
		}
		for i := range g {
			if math.Abs(g[i]-j.grad[i]) > 1e-9*math.Max(1, math.Abs(g[i])) {
				t.Fatalf("fold %d: gradient %d is %v stacked, %v alone", j.fold, i, j.grad[i], g[i])
			}
		}
	}
}

func TestInvalidInput(t *testing.T) {
	ctx := context.Background()
	x := []float32{0, 1, 2, 3}
	cases := map[string]func() error{
		"short x":     func() error { _, err := Fit(ctx, x[:3], 2, 2, []int32{0, 1}, 2, Options{}); return err },
		"label range": func() error { _, err := Fit(ctx, x, 2, 2, []int32{0, 2}, 2, Options{}); return err },
		"one class":   func() error { _, err := Fit(ctx, x, 2, 2, []int32{1, 1}, 2, Options{}); return err },
		"negative C":  func() error { _, err := Fit(ctx, x, 2, 2, []int32{0, 1}, 2, Options{C: -1}); return err },
		"nan": func() error {
			_, err := Fit(ctx, []float32{0, float32(math.NaN()), 2, 3}, 2, 2, []int32{0, 1}, 2, Options{})
			return err
		},
		"too many folds": func() error { _, err := StratifiedFolds([]int32{0, 1}, 10, 0); return err },
		"one fold": func() error {
			_, err := CrossValidate(ctx, x, 2, 2, []int32{0, 1}, 2, []int{0, 0}, Options{}, nil)
			return err
		},
		"empty fold": func() error {
			_, err := CrossValidate(ctx, x, 2, 2, []int32{0, 1}, 2, []int{0, 2}, Options{}, nil)
			return err
		},
		"threads": func() error { _, err := Fit(ctx, x, 2, 2, []int32{0, 1}, 2, Options{Threads: -1}); return err },
		"all classes small": func() error {
			_, err := StratifiedFolds([]int32{0, 0, 1, 1, 2, 2, 0, 1, 2, 2, 1}, 10, 0)
			return err
		},
	}
	for name, f := range cases {
		if err := f(); !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("%s: got %v, want ErrInvalidInput", name, err)
		}
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	x := []float32{0, 1, 2, 3}
	if _, err := Fit(ctx, x, 2, 2, []int32{0, 1}, 2, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// countdownCtx is cancelled after its Err has been asked a few times, so a
// test can stop a fit between evaluations without timing.
type countdownCtx struct {
	context.Context
	left atomic.Int64
}

func newCountdown(n int64) *countdownCtx {
	c := &countdownCtx{Context: context.Background()}
	c.left.Store(n)
	return c
}

func (c *countdownCtx) Err() error {
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

func TestCancelMidFit(t *testing.T) {
	g := loadGolden(t)
	ds := g.Datasets[0]
	xtr, _ := loadX(t, ds)
	_, err := Fit(newCountdown(5), xtr, ds.NTrain, ds.D, ds.YTrain, ds.K, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	test, err := StratifiedFolds(ds.YTrain, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Enough for every fold to start and evaluate a few times.
	fits := 0
	_, err = CrossValidate(newCountdown(200), xtr, ds.NTrain, ds.D, ds.YTrain, ds.K, test, Options{}, func(done, total int) { fits = done })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("CrossValidate: got %v, want context.Canceled", err)
	}
	if fits != 10 {
		t.Fatalf("progress reported %d fits ending, want all 10 (stopped)", fits)
	}
}

func TestSeededFoldsAreStratified(t *testing.T) {
	y := make([]int32, 200)
	for i := range y {
		y[i] = int32(i % 4)
	}
	a, err := StratifiedFolds(y, 10, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := StratifiedFolds(y, 10, 0)
	if slices.Equal(a, b) {
		t.Fatal("seeded folds equal unshuffled ones")
	}
	count := map[[2]int]int{}
	for i, f := range a {
		count[[2]int{f, int(y[i])}]++
	}
	for key, c := range count {
		if c != 5 {
			t.Fatalf("fold %d class %d has %d samples, want 5", key[0], key[1], c)
		}
	}
}

// TestTimingLarge fits the size issue 14 runs per fold and space. It is
// skipped unless LOGREG_TIMING=1 (it takes minutes on two cores).
func TestTimingLarge(t *testing.T) {
	if os.Getenv("LOGREG_TIMING") != "1" {
		t.Skip("set LOGREG_TIMING=1 to time a 10000 x 768, k=100 fit")
	}
	n, d, k := 10000, 768, 100
	rng := rand.New(rand.NewPCG(5, 6))
	centres := make([]float32, k*d)
	for i := range centres {
		centres[i] = float32(rng.NormFloat64() * 0.3)
	}
	x := make([]float32, n*d)
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(rng.IntN(k))
		for j := 0; j < d; j++ {
			x[i*d+j] = centres[int(y[i])*d+j] + float32(rng.NormFloat64())
		}
	}
	start := time.Now()
	m, err := Fit(context.Background(), x, n, d, y, k, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Fit 10000 x 768, k=100, blob labels: %.1f s, %d iterations, status %s, loss %.6g", time.Since(start).Seconds(), m.Iterations, m.Status, m.Loss)
	// Labels unrelated to x, like a poor clustering scored by TURTLE: the
	// fit runs to max_iter.
	for i := range y {
		y[i] = int32(rng.IntN(k))
	}
	start = time.Now()
	m, err = Fit(context.Background(), x, n, d, y, k, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Fit 10000 x 768, k=100, random labels: %.1f s, %d iterations, status %s, loss %.6g", time.Since(start).Seconds(), m.Iterations, m.Status, m.Loss)
}

// TestThreadsIdentical: results do not depend on the number of workers
// (up to minChunks): the rows are cut into the same ranges, summed in the
// same order.
func TestThreadsIdentical(t *testing.T) {
	g := loadGolden(t)
	ds := g.Datasets[1]
	xtr, _ := loadX(t, ds)
	test, err := StratifiedFolds(ds.YTrain, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	var first *CVResult
	for _, threads := range []int{1, 2, 3, minChunks} {
		cv, err := CrossValidate(context.Background(), xtr, ds.NTrain, ds.D, ds.YTrain, ds.K, test, Options{Threads: threads}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = cv
			continue
		}
		if !slices.Equal(cv.Loss, first.Loss) || !slices.Equal(cv.Accuracy, first.Accuracy) {
			t.Fatalf("%d threads: losses %v, 1 thread %v", threads, cv.Loss, first.Loss)
		}
	}
}
