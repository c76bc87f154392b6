// Package losstest is the test kit of loss plugins, shipped and outside
// ones alike (see examples/loss-go):
//
//   - Conformance, the suite every train.GraphLoss runs: schema, identity,
//     option errors, state, the step on every backend, short fits;
//   - a compiled loss step (NewStep) and float64 reference checks
//     (CheckAgainstReference), with random and deliberately sharp problems
//     (RandomProblem, SharpProblem) and float32 tolerances;
//   - the golden file of the TEMI authors' loss classes
//     (testdata/temi_golden.json, computed with their code; see its
//     `schema` key) and RunGolden, for the losses it covers;
//   - the backends every loss must run on (ForEachBackend; onnx needs the
//     onnx build tag) and the train-step benchmarks.
//
// It is imported by tests only.
package losstest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// GoldenPath is the one copy of the project's golden loss values
// (computed with the authors' loss classes), beside this package's source so
// that every loss plugin's tests find it whatever their directory.
var GoldenPath = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "temi_golden.json")
}()

// goldenFile is the part of temi_golden.json the tests read.
type goldenFile struct {
	Cases []Case `json:"cases"`
}

// Case is one golden case: a sequence of calls on one loss object.
type Case struct {
	Name   string `json:"name"`
	Loss   string `json:"loss"` // TEMI, PMI, WMI or SCAN
	Params Params `json:"params"`
	// PkInitial is the prior [H][K] before call 0; nil for SCAN (no prior).
	PkInitial [][]float64 `json:"pk_initial"`
	// Calls run one after the other on one loss object: the prior of
	// call c+1 starts from PkAfter of call c.
	Calls []Call `json:"calls"`
}

// Params are a case's loss parameters; unused ones are 0.
type Params struct {
	H             int     `json:"H"`
	B             int     `json:"B"`
	K             int     `json:"K"`
	StudentTemp   float64 `json:"student_temp"`
	TeacherTemp   float64 `json:"teacher_temp"`
	Beta          float64 `json:"beta"`           // TEMI, PMI, WMI
	ProbsMomentum float64 `json:"probs_momentum"` // TEMI, PMI, WMI
	Alpha         float64 `json:"alpha"`          // SCAN
}

// Call is one forward call of the reference loss, outputs in float64.
type Call struct {
	StudentLogits     [][][]float64 `json:"student_logits"` // [H][2B][K]
	TeacherLogits     [][][]float64 `json:"teacher_logits"` // [H][2B][K]
	Weight            []float64     `json:"weight"`         // [B], TEMI only
	HeadLosses        []float64     `json:"head_losses"`    // [H]
	MeanLoss          float64       `json:"mean_loss"`
	PkAfter           [][]float64   `json:"pk_after"`            // [H][K]; nil for SCAN
	GradStudentLogits [][][]float64 `json:"grad_student_logits"` // [H][2B][K]
	// Float32 repeats the outputs computed in float32 by the reference,
	// to calibrate tolerances.
	Float32 struct {
		HeadLosses        []float64     `json:"head_losses"`
		MeanLoss          float64       `json:"mean_loss"`
		PkAfter           [][]float64   `json:"pk_after"`
		GradStudentLogits [][][]float64 `json:"grad_student_logits"`
	} `json:"float32"`
}

// LoadGolden reads GoldenPath and returns the cases of the given loss
// (TEMI, PMI, WMI or SCAN). It fails the test when there are none.
func LoadGolden(t testing.TB, loss string) []Case {
	t.Helper()
	raw, err := os.ReadFile(GoldenPath)
	if err != nil {
		t.Fatalf("read golden file: %v (it lives in losses/losstest/testdata/)", err)
	}
	var f goldenFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("decode %s: %v", GoldenPath, err)
	}
	var out []Case
	for _, c := range f.Cases {
		if c.Loss == loss {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no %s case", GoldenPath, loss)
	}
	return out
}

// Problem returns the inputs of call i of the case as a Problem, with the
// given state (nil for a loss without state).
func (c Case) Problem(t testing.TB, i int, state [][]float64) Problem {
	t.Helper()
	p, call := c.Params, c.Calls[i]
	return Problem{
		H: p.H, B: p.B, K: p.K,
		Student:     Flat3(t, c.Name+" student_logits", call.StudentLogits, p.H, 2*p.B, p.K),
		Teacher:     Flat3(t, c.Name+" teacher_logits", call.TeacherLogits, p.H, 2*p.B, p.K),
		StudentTemp: p.StudentTemp, TeacherTemp: p.TeacherTemp,
		State: state,
	}
}

// InitialState is the case's state before call 0: the prior [H*K], or nil
// when the case has none (SCAN).
func (c Case) InitialState(t testing.TB) [][]float64 {
	t.Helper()
	if c.PkInitial == nil {
		return nil
	}
	return [][]float64{Flat2(t, c.Name+" pk_initial", c.PkInitial, c.Params.H, c.Params.K)}
}

// StateAfter is the state after call i, in the layout of InitialState.
func (c Case) StateAfter(t testing.TB, i int) [][]float64 {
	t.Helper()
	if c.Calls[i].PkAfter == nil {
		return nil
	}
	return [][]float64{Flat2(t, c.Name+" pk_after", c.Calls[i].PkAfter, c.Params.H, c.Params.K)}
}

// Grad is d(mean loss)/d(student logits) of call i, flattened.
func (c Case) Grad(t testing.TB, i int) []float64 {
	t.Helper()
	p := c.Params
	return Flat3(t, c.Name+" grad_student_logits", c.Calls[i].GradStudentLogits, p.H, 2*p.B, p.K)
}
