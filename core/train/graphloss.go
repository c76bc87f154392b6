// Package train is the shared GoMLX trainer that loss plugins run inside
// their own process (see lossplugin.Serve): multi-head MLP student and EMA
// teacher, AdamW, the schedules of docs/TEMI.md, checkpoints and assignment.
// A loss author only writes a GraphLoss.
package train

import (
	"github.com/clusterlab/clusterlab/core"
	"github.com/gomlx/gomlx/core/graph"
)

// GraphLoss is what a loss plugin author writes: its description and,
// once its options are fixed, the loss of one training step as a GoMLX
// graph over the logits of all heads. lossplugin.Serve runs the shared
// trainer around it.
type GraphLoss interface {
	// Describe returns the loss's name, version, summary and its own
	// options (beta, alpha, ...). The trainer adds its options (epochs,
	// lr, heads, ...) to the schema the runner sees.
	Describe() core.Description
	// Prepare fixes the loss's options for a run. opts hold exactly the
	// options Describe declares, resolved: each present, of its schema's
	// type, defaults filled in, bounds checked (core.Decode reads them into
	// a typed struct). Prepare checks what the schema cannot express,
	// returning a *core.OptionError that names the key, and returns the
	// loss of one step. The trainer calls it once per Describe and Fit.
	Prepare(opts core.Options) (Step, error)
}

// Step is a loss with its options fixed.
type Step interface {
	// State declares the loss's per-run state (e.g. TEMI's cluster prior
	// [H, K]) with initial values. State is not trained; it is updated by
	// Loss and saved in checkpoints.
	State(heads, clusters int) ([]StateVar, error)
	// Loss returns the per-head losses [H] and the new value of every
	// state variable (same order as State). The trainer minimises the mean
	// over heads. Like any GoMLX graph function it panics on errors.
	Loss(in LossInputs) (perHead *graph.Node, newState []*graph.Node)
}

// StateVar is one named state tensor of a loss, float32, row-major.
type StateVar struct {
	Name  string
	Shape []int
	Init  []float32
}

// LossInputs are the graph nodes a Step sees at each training step.
type LossInputs struct {
	// Student and Teacher are raw head outputs [H, 2B, K] (before
	// temperature). Rows 0..B-1 are view 1 (the anchors), rows B..2B-1
	// view 2 (their k-NN partners); row b and row B+b form pair b. The
	// teacher carries no gradient.
	Student, Teacher *graph.Node
	// StudentTemp and TeacherTemp are scalar float32 nodes (the teacher
	// temperature follows its warm-up schedule).
	StudentTemp, TeacherTemp *graph.Node
	// State holds the current value of each StateVar, in order.
	State []*graph.Node
}
