package losstest

import (
	"fmt"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Extra builds additional outputs of a step (e.g. TEMI's pair weight) from
// the prepared step and the same inputs its Loss sees.
type Extra func(s train.Step, in train.LossInputs) []*graph.Node

// Prepare resolves opts (the loss's own options; defaults fill the rest)
// against the loss's schema and prepares the loss, as the trainer does.
func Prepare(t testing.TB, loss train.GraphLoss, opts core.Options) train.Step {
	t.Helper()
	s, err := prepare(loss, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func prepare(loss train.GraphLoss, opts core.Options) (train.Step, error) {
	d := loss.Describe()
	resolved, err := core.ResolveOptions(d.Options, opts)
	if err != nil {
		return nil, fmt.Errorf("loss %q options: %w", d.Name, err)
	}
	s, err := loss.Prepare(resolved)
	if err != nil {
		return nil, fmt.Errorf("loss %q options: %w", d.Name, err)
	}
	return s, nil
}

// Step is one loss step compiled through the train.GraphLoss interface, as
// the trainer calls it: inputs student and teacher logits [H, 2B, K], the
// two temperatures and the state; outputs the per-head losses, their
// mean, the new state, the extra outputs and d(mean)/d(student logits).
// The options are baked into the graph; shapes and temperatures are
// inputs.
type Step struct {
	loss train.GraphLoss
	step train.Step
	exec *graph.Exec
}

// StepOut is what one Step.Run returns, flattened row-major.
type StepOut struct {
	PerHead []float32   // [H]
	Mean    float32     // mean of PerHead
	State   [][]float32 // the new state, in State order
	Extra   [][]float32 // the outputs of the Extra function
	Grad    []float32   // [H, 2B, K]
}

// NewStep compiles the step of loss with the given options on b. extra
// may be nil.
func NewStep(t testing.TB, b compute.Backend, loss train.GraphLoss, opts core.Options, extra Extra) *Step {
	t.Helper()
	step := Prepare(t, loss, opts)
	exec, err := graph.NewExec(b, func(inputs []*graph.Node) []*graph.Node {
		student := inputs[0]
		in := train.LossInputs{
			Student: student, Teacher: inputs[1],
			StudentTemp: inputs[2], TeacherTemp: inputs[3], State: inputs[4:],
		}
		perHead, newState := step.Loss(in)
		if len(newState) != len(in.State) {
			panic(fmt.Errorf("loss %q returned %d state values for %d state inputs", loss.Describe().Name, len(newState), len(in.State)))
		}
		mean := graph.ReduceAllMean(perHead)
		out := []*graph.Node{perHead, mean, graph.Gradient(mean, student)[0]}
		out = append(out, newState...)
		if extra != nil {
			out = append(out, extra(step, in)...)
		}
		return out
	})
	if err != nil {
		t.Fatalf("compile the %s loss step: %v", loss.Describe().Name, err)
	}
	return &Step{loss: loss, step: step, exec: exec}
}

// Run runs the step on pr in float32. The state's count and shapes come
// from the loss's State for pr's dimensions; pr.State must match them.
func (s *Step) Run(t testing.TB, pr Problem) StepOut {
	t.Helper()
	out, err := s.run(pr)
	if err != nil {
		t.Fatalf("run the %s loss step: %v", s.loss.Describe().Name, err)
	}
	return out
}

func (s *Step) run(pr Problem) (StepOut, error) {
	vars, err := s.step.State(pr.H, pr.K)
	if err != nil {
		return StepOut{}, fmt.Errorf("state: %w", err)
	}
	if len(vars) != len(pr.State) {
		return StepOut{}, fmt.Errorf("the loss declares %d state variables, the problem has %d", len(vars), len(pr.State))
	}
	args := []any{
		tensors.FromFlatDataAndDimensions(ToFloat32(pr.Student), pr.H, 2*pr.B, pr.K),
		tensors.FromFlatDataAndDimensions(ToFloat32(pr.Teacher), pr.H, 2*pr.B, pr.K),
		tensors.FromScalar(float32(pr.StudentTemp)),
		tensors.FromScalar(float32(pr.TeacherTemp)),
	}
	for i, v := range vars {
		args = append(args, tensors.FromFlatDataAndDimensions(ToFloat32(pr.State[i]), v.Shape...))
	}
	outs, err := s.exec.Call(args...)
	if err != nil {
		return StepOut{}, err
	}
	flat := make([][]float32, len(outs))
	for i, o := range outs {
		if flat[i], err = tensors.CopyFlatData[float32](o); err != nil {
			return StepOut{}, fmt.Errorf("read output %d: %w", i, err)
		}
	}
	n := len(vars)
	return StepOut{PerHead: flat[0], Mean: flat[1][0], Grad: flat[2], State: flat[3 : 3+n], Extra: flat[3+n:]}, nil
}

// Call runs the compiled step on raw arguments (student, teacher,
// student temperature, teacher temperature, state...), for tests of bad
// inputs: a wrong shape must be an error, not a crash.
func (s *Step) Call(args ...any) ([]*tensors.Tensor, error) { return s.exec.Call(args...) }
