// Package train is the shared GoMLX trainer that loss plugins run inside
// their own process (see lossplugin.Serve): multi-head MLP student and EMA
// teacher, AdamW, the schedules of docs/TEMI.md, checkpoints and assignment.
// A loss author only writes a GraphLoss.
package train

import (
	"github.com/clusterlab/clusterlab/core"
	"github.com/gomlx/gomlx/core/graph"
)

// GraphLoss is what a loss plugin author writes: the loss of one training
// step as a GoMLX graph function over the logits of all heads.
type GraphLoss interface {
	// Describe returns the loss's name, version, summary and its own
	// options (beta, alpha, ...). The trainer adds its options (epochs,
	// lr, heads, ...) to the schema the runner sees.
	Describe() core.Description
	// State declares the loss's per-run state (e.g. TEMI's cluster prior
	// [H, K]) with initial values, for the given resolved options. State is
	// not trained; it is updated by Loss and saved in checkpoints.
	State(opts core.Options, heads, clusters int) ([]StateVar, error)
	// Loss returns the per-head losses [H] and the new value of every
	// state variable (same order as State). The trainer minimises the mean
	// over heads.
	Loss(in LossInputs) (perHead *graph.Node, newState []*graph.Node)
}

// StateVar is one named state tensor of a loss, float32, row-major.
type StateVar struct {
	Name  string
	Shape []int
	Init  []float32
}

// LossInputs are the graph nodes a GraphLoss sees at each step.
type LossInputs struct {
	Options core.Options
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
