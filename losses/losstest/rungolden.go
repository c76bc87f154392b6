package losstest

import (
	"fmt"
	"math"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
)

// GoldenSpec says how to run a loss plugin on golden cases.
type GoldenSpec struct {
	Loss train.GraphLoss
	// Options maps a case's parameters to the loss options (the
	// temperatures are inputs of the step, not options).
	Options func(Params) core.Options
	// Weight, when set, builds the pair weight of every row [2B] (rows b
	// and B+b share the golden weight[b]). A case with a weight and no
	// Weight here fails: every golden output must be checked.
	Weight func(train.Step, train.LossInputs) *graph.Node
}

// RunGolden runs every golden case of one loss (TEMI, PMI, WMI or SCAN) on
// every backend, carrying the state from call to call as the golden file
// does, and checks every output: head_losses, mean_loss, pk_after (where
// not null), weight (where present) and grad_student_logits, to
// Float32Tol. It also checks that the loss's State declares exactly the
// case's state: the prior [H, K] starting at pk_initial, or nothing where
// pk_initial is null.
func RunGolden(t *testing.T, loss string, spec GoldenSpec) {
	t.Helper()
	cases := LoadGolden(t, loss)
	ForEachBackend(t, func(t *testing.T, b compute.Backend) {
		steps := map[string]*Step{} // one compiled graph per option set
		for _, c := range cases {
			t.Run(c.Name, func(t *testing.T) {
				opts := spec.Options(c.Params)
				checkDeclaredState(t, spec.Loss, opts, c)
				var extra Extra
				if spec.Weight != nil {
					extra = func(s train.Step, in train.LossInputs) []*graph.Node { return []*graph.Node{spec.Weight(s, in)} }
				}
				key := opts.Canonical()
				if steps[key] == nil {
					steps[key] = NewStep(t, b, spec.Loss, opts, extra)
				}
				state := c.InitialState(t)
				worst := 0.0
				for i, call := range c.Calls {
					name := fmt.Sprintf("call %d", i)
					out := steps[key].Run(t, c.Problem(t, i, state))
					errs := []float64{
						CompareFloats(t, name+" head_losses", out.PerHead, call.HeadLosses, Float32Tol),
						CompareFloats(t, name+" mean_loss", []float32{out.Mean}, []float64{call.MeanLoss}, Float32Tol),
						CompareFloats(t, name+" grad_student_logits", out.Grad, c.Grad(t, i), Float32Tol),
					}
					want := c.StateAfter(t, i)
					if len(out.State) != len(want) {
						t.Fatalf("%s: %d state outputs, the golden case has %d", name, len(out.State), len(want))
					}
					for j := range want {
						errs = append(errs, CompareFloats(t, name+" pk_after", out.State[j], want[j], Float32Tol))
					}
					if call.Weight != nil {
						if spec.Weight == nil {
							t.Fatalf("%s: the golden case has a weight, but the spec builds none to check", name)
						}
						// One weight per row; rows b and B+b share w_b.
						wantWeight := append(append([]float64{}, call.Weight...), call.Weight...)
						errs = append(errs, CompareFloats(t, name+" weight", out.Extra[0], wantWeight, Float32Tol))
					}
					for _, e := range errs {
						worst = math.Max(worst, e)
					}
					state = make([][]float64, len(out.State))
					for j, s := range out.State {
						state[j] = ToFloat64(s)
					}
				}
				t.Logf("largest absolute error over %d calls: %.2g", len(c.Calls), worst)
			})
		}
	})
}

// checkDeclaredState compares the loss's declared state with the case's.
func checkDeclaredState(t *testing.T, loss train.GraphLoss, opts core.Options, c Case) {
	t.Helper()
	p := c.Params
	vars, err := Prepare(t, loss, opts).State(p.H, p.K)
	if err != nil {
		t.Fatalf("state: %v", err)
	}
	want := c.InitialState(t)
	if len(vars) != len(want) {
		t.Fatalf("the loss declares %d state variables, the golden case has %d", len(vars), len(want))
	}
	for i, v := range vars {
		if fmt.Sprint(v.Shape) != fmt.Sprint([]int{p.H, p.K}) {
			t.Fatalf("state %q has shape %v, want the prior's [%d %d]", v.Name, v.Shape, p.H, p.K)
		}
		CompareFloats(t, "initial "+v.Name, v.Init, want[i], Float32Tol)
	}
}
