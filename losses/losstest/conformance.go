package losstest

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
)

// ConformanceCase is what the loss conformance suite runs with.
type ConformanceCase struct {
	// Options are loss options for the steps and the fit (nil: defaults).
	Options core.Options
	// Bad are loss options that must fail with an *core.OptionError naming
	// Key, beyond those derived from the schema (an unknown key, wrong
	// types, bounds crossed): the checks only Prepare can make.
	Bad []plugintest.BadOption
	// MinAcc is the train accuracy the best head must reach on four
	// separated blobs in a short fit (0: 0.9).
	MinAcc float64
}

// Conformance runs what every loss written as a train.GraphLoss must do,
// through train.NewLoss as lossplugin.Serve runs it: the schema the runner
// sees (the trainer's options and the loss's, no clash), an identity that
// covers every loss option, option errors naming their key, a consistent
// state, a step that is finite, deterministic and refuses bad shapes on
// every backend, and a short fit on every backend that learns, assigns,
// resumes and repeats itself exactly.
func Conformance(t *testing.T, loss train.GraphLoss, c ConformanceCase) {
	ctx := context.Background()
	full := train.NewLoss(loss)
	schemaOnly, err := full.Describe(ctx, nil)
	if err != nil {
		t.Fatalf("Describe(nil): %v (does a loss option clash with the trainer's?)", err)
	}
	own := loss.Describe()
	t.Run("schema", func(t *testing.T) {
		plugintest.CheckSchema(t, schemaOnly, core.KindLoss)
		for _, o := range own.Options {
			if !slices.ContainsFunc(schemaOnly.Options, func(s core.Option) bool { return s.Name == o.Name }) {
				t.Errorf("loss option %q is missing from the schema the runner sees", o.Name)
			}
		}
	})
	info, err := full.Describe(ctx, optionsOrEmpty(c.Options))
	if err != nil {
		t.Fatalf("Describe(%v): %v", c.Options, err)
	}
	t.Run("identity", func(t *testing.T) {
		if info.Identity == "" {
			t.Fatalf("no identity: the runner could not tell this loss's runs apart")
		}
		for _, o := range own.Options {
			alt, ok := another(o, c.Options)
			if !ok {
				continue
			}
			other, err := full.Describe(ctx, alt)
			if err != nil {
				continue // another value that Prepare refuses: not an identity question
			}
			if other.Identity == info.Identity {
				t.Errorf("option %q changed (%v) but the identity did not: finished runs of the old value would be reused", o.Name, alt[o.Name])
			}
		}
	})
	t.Run("bad options", func(t *testing.T) {
		for _, b := range append(plugintest.BadOptions(own.Options, c.Options), c.Bad...) {
			_, err := full.Describe(ctx, b.Options)
			plugintest.CheckOptionError(t, "Describe("+core.Options(b.Options).Canonical()+")", err, b.Key)
		}
	})
	step, err := prepare(loss, c.Options)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	t.Run("state", func(t *testing.T) {
		vars, err := step.State(2, 3)
		if err != nil {
			t.Fatalf("State(2 heads, 3 clusters): %v", err)
		}
		for _, v := range vars {
			n := 1
			for _, d := range v.Shape {
				n *= d
			}
			if v.Name == "" || len(v.Init) != n {
				t.Errorf("state %q of shape %v has %d initial values", v.Name, v.Shape, len(v.Init))
			}
		}
		if _, err := step.State(0, 3); err == nil {
			t.Errorf("State with 0 heads: no error")
		}
		if _, err := step.State(2, 1); err == nil {
			t.Errorf("State with 1 cluster: no error")
		}
	})
	t.Run("step", func(t *testing.T) {
		ForEachBackend(t, func(t *testing.T, b compute.Backend) { checkStep(t, b, loss, step, c.Options) })
	})
	t.Run("fit", func(t *testing.T) {
		minAcc := c.MinAcc
		if minAcc == 0 {
			minAcc = 0.9
		}
		for _, name := range Backends {
			t.Run(name, func(t *testing.T) {
				SkipUntagged(t, name)
				a1, l1 := checkFit(t, loss, c.Options, minAcc, name)
				a2, l2 := checkFit(t, loss, c.Options, minAcc, name)
				if !slices.Equal(a1, a2) || !slices.Equal(l1, l2) {
					t.Errorf("two fits with the same seed on %s differ (head losses %v and %v)", name, l1, l2)
				}
			})
		}
	})
}

// checkStep runs one step on a random problem twice and checks its
// outputs, then feeds it a bad shape.
func checkStep(t *testing.T, b compute.Backend, loss train.GraphLoss, step train.Step, opts core.Options) {
	const h, batch, k = 2, 4, 3
	vars, err := step.State(h, k)
	if err != nil {
		t.Fatal(err)
	}
	var state [][]float64
	for _, v := range vars {
		state = append(state, ToFloat64(v.Init))
	}
	pr := RandomProblem(7, h, batch, k, state)
	s := NewStep(t, b, loss, opts, nil)
	first, second := s.Run(t, pr), s.Run(t, pr)
	finite := func(what string, x []float32) {
		for _, v := range x {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Errorf("%s holds %v", what, v)
				return
			}
		}
	}
	if len(first.PerHead) != h {
		t.Errorf("%d per-head losses for %d heads", len(first.PerHead), h)
	}
	finite("the per-head losses", first.PerHead)
	finite("the gradient", first.Grad)
	for i, st := range first.State {
		finite("state "+vars[i].Name, st)
		if len(st) != len(vars[i].Init) {
			t.Errorf("state %q comes back with %d values, declared %d", vars[i].Name, len(st), len(vars[i].Init))
		}
	}
	if !slices.Equal(first.PerHead, second.PerHead) || !slices.Equal(first.Grad, second.Grad) {
		t.Errorf("the same step on the same inputs gave different results")
	}
	args := []any{
		tensors.FromFlatDataAndDimensions(make([]float32, h*3*k), h, 3, k), // 3 rows: odd
		tensors.FromFlatDataAndDimensions(make([]float32, h*3*k), h, 3, k),
		tensors.FromScalar(float32(0.1)), tensors.FromScalar(float32(0.1)),
	}
	for _, v := range vars {
		args = append(args, tensors.FromFlatDataAndDimensions(v.Init, v.Shape...))
	}
	if _, err := s.Call(args...); err == nil {
		t.Errorf("a step on 3 rows (pairs need an even number): no error")
	}
}

// another returns opts with option o set to another valid value, when the
// schema allows one.
func another(o core.Option, opts core.Options) (core.Options, bool) {
	out := core.Options{}
	for k, v := range opts {
		out[k] = v
	}
	cur := o.Default
	if v, ok := opts[o.Name]; ok {
		cur = v
	}
	switch o.Type {
	case core.TypeBool:
		b, _ := cur.(bool)
		out[o.Name] = !b
	case core.TypeString:
		for _, ch := range o.Choices {
			if ch != cur {
				out[o.Name] = ch
				return out, true
			}
		}
		return nil, false
	case core.TypeInt, core.TypeFloat:
		f, err := core.ToFloat(cur)
		if err != nil {
			return nil, false
		}
		for _, cand := range []float64{f + 1, f / 2, f - 1, f + 0.1} {
			if o.Type == core.TypeInt && cand != math.Trunc(cand) {
				continue
			}
			if (o.Min == nil || cand >= *o.Min) && (o.Max == nil || cand <= *o.Max) && cand != f {
				out[o.Name] = cand
				return out, true
			}
		}
		return nil, false
	default:
		return nil, false
	}
	return out, true
}

func optionsOrEmpty(o core.Options) core.Options {
	if o == nil {
		return core.Options{}
	}
	return o
}
