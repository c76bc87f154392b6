package main

import (
	"context"
	"math"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// TestDescribe: the schema is well formed, Describe(nil) has no identity,
// every option but checkpoint_every changes the identity, and bad options
// are errors naming their key.
func TestDescribe(t *testing.T) {
	ctx := context.Background()
	d, err := New().Describe(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	plugintest.CheckSchema(t, d, core.KindLoss)
	if d.Name != "turtle" || d.Identity != "" || !d.NoNeighbours {
		t.Errorf("Describe(nil): name %q, identity %q, no_neighbours %v; want turtle, none, true (it reads no k-NN graph)", d.Name, d.Identity, d.NoNeighbours)
	}
	base, err := New().Describe(ctx, core.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if base.Identity == "" {
		t.Fatal("Describe with options: no identity")
	}
	for _, o := range d.Options {
		alt := core.Options{o.Name: another(t, o)}
		other, err := New().Describe(ctx, alt)
		if err != nil {
			t.Fatalf("Describe(%v): %v", alt, err)
		}
		same := other.Identity == base.Identity
		if o.Name == OptCheckpointEvery && !same {
			t.Errorf("checkpoint_every changed the identity: it cannot change the results")
		}
		if o.Name != OptCheckpointEvery && same {
			t.Errorf("option %q changed (%v) but the identity did not", o.Name, alt[o.Name])
		}
	}
	for _, b := range plugintest.BadOptions(d.Options, nil) {
		_, err := New().Describe(ctx, b.Options)
		plugintest.CheckOptionError(t, "Describe("+b.Options.Canonical()+")", err, b.Key)
	}
	// Fit refuses the same options, naming the key.
	_, err = New().Fit(ctx, core.FitRequest{Options: core.Options{OptInnerSteps: 0}, Clusters: 3, OutDir: t.TempDir()}, nil)
	plugintest.CheckOptionError(t, "Fit(inner_steps 0)", err, OptInnerSteps)
}

// another is a valid value of o other than its default.
func another(t *testing.T, o core.Option) any {
	switch o.Type {
	case core.TypeBool:
		return !o.Default.(bool)
	case core.TypeInt, core.TypeFloat:
		f, err := core.ToFloat(o.Default)
		if err != nil {
			t.Fatal(err)
		}
		for _, cand := range []float64{f + 1, f / 2, f - 1} {
			if o.Type == core.TypeInt && cand != math.Trunc(cand) {
				continue
			}
			if (o.Min == nil || cand >= *o.Min) && (o.Max == nil || cand <= *o.Max) && cand != f {
				return cand
			}
		}
	}
	t.Fatalf("option %q: no other value to try", o.Name)
	return nil
}

// TestAdamScalars: the step counts of cold and warm start (the golden
// test checks the values at steps 1..2M).
func TestAdamScalars(t *testing.T) {
	cold := config{InnerSteps: 3, InnerLR: 0.1, OuterLR: 0.2}
	warm := cold
	warm.WarmStart = true
	at := func(c config, t, k int) float64 { return adamScalars(c, t)[2+k] }
	step1 := 0.1 / (1 - adamBeta1)
	if got := at(cold, 5, 0); math.Abs(got-step1) > 1e-12 {
		t.Errorf("cold start, iteration 6, inner step 1: lr/bc1 = %v, want %v (a fresh Adam)", got, step1)
	}
	if got, want := at(warm, 5, 0), 0.1/(1-math.Pow(adamBeta1, 16)); math.Abs(got-want) > 1e-12 {
		t.Errorf("warm start, iteration 6, inner step 1: lr/bc1 = %v, want %v (Adam step 16)", got, want)
	}
	if got, want := adamScalars(cold, 5)[0], 0.2/(1-math.Pow(adamBeta1, 6)); math.Abs(got-want) > 1e-12 {
		t.Errorf("iteration 6, outer lr/bc1 = %v, want %v (Adam step 6)", got, want)
	}
}

// TestRandomDraws: the batch is B distinct rows, a function of (seed, t)
// alone; the inits are uniform within the nn.Linear bound and g starts
// at V's row norms.
func TestRandomDraws(t *testing.T) {
	d := newBatchDrawer(7, 50, 20)
	a, b := make([]int32, 20), make([]int32, 20)
	d.rows(3, a)
	d.rows(4, b) // another iteration in between must not matter
	d2 := newBatchDrawer(7, 50, 20)
	c := make([]int32, 20)
	d2.rows(3, c)
	seen := map[int32]bool{}
	for i := range a {
		if a[i] != c[i] {
			t.Fatalf("the batch of iteration 3 depends on what was drawn before: %v vs %v", a, c)
		}
		if a[i] < 0 || a[i] >= 50 || seen[a[i]] {
			t.Fatalf("batch %v: rows must be distinct and in [0, 50)", a)
		}
		seen[a[i]] = true
	}
	if equalInts(a, b) {
		t.Errorf("iterations 3 and 4 drew the same batch %v", a)
	}
	v, g, bias := encoderInit(7, []int{16, 4}, 3)
	for s, dim := range []int{16, 4} {
		bound := float32(1 / math.Sqrt(float64(dim)))
		for _, x := range append(append([]float32{}, v[s]...), bias[s]...) {
			if x < -bound || x > bound {
				t.Fatalf("space %d: init value %v outside ±%v", s, x, bound)
			}
		}
		for k := range 3 {
			var ss float64
			for _, x := range v[s][k*dim : (k+1)*dim] {
				ss += float64(x) * float64(x)
			}
			if math.Abs(float64(g[s][k])-math.Sqrt(ss)) > 1e-6 {
				t.Errorf("space %d: g[%d] = %v, want the row norm %v", s, k, g[s][k], math.Sqrt(ss))
			}
		}
	}
	a1, _ := innerInit(7, 3, []int{16}, 3)
	a2, _ := innerInit(7, 3, []int{16}, 3)
	a3, _ := innerInit(7, 4, []int{16}, 3)
	if !equalFloats(a1[0], a2[0]) || equalFloats(a1[0], a3[0]) {
		t.Errorf("the inner init must be a function of (seed, iteration)")
	}
}

func equalInts(a, b []int32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func equalFloats(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}
