package train

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/internal/testbackends"
)

// TestGatherPathsAgree runs the same steps with the rows gathered on the
// host into the shared batch buffer and with the in-graph Gather (the path
// of backends without shared buffers): the per-head losses and the whole
// final state must be identical.
func TestGatherPathsAgree(t *testing.T) {
	for _, be := range append([]string{"go", "onnx"}, testbackends.Extra()...) {
		t.Run(be, func(t *testing.T) {
			if be == "onnx" {
				skipWithoutONNX(t)
			}
			sched := schedules{LR: []float64{0.01, 0.02, 0.03}, WD: []float64{0.1, 0.1, 0.1}, Momentum: []float64{0.9, 0.9, 0.9},
				TeacherTemp: []float64{0.07}, ItersPerEpoch: 3}
			run := func(graphOnly bool) ([][]float32, *hostState) {
				defer func(old, l0 bool) { graphGatherOnly, graphLayer0Only = old, l0 }(graphGatherOnly, graphLayer0Only)
				// The first layer's products stay in the graph (host
				// products round differently: TestHostLayer0MatchesGraph).
				graphGatherOnly, graphLayer0Only = graphOnly, true
				f := newStepFixture(t, be, smallArch(), sched, 0.1)
				if f.run.sb.hostGather == graphOnly {
					t.Fatalf("hostGather %v with graphGatherOnly %v", f.run.sb.hostGather, graphOnly)
				}
				var losses [][]float32
				for it := range 3 {
					l, err := f.run.step(f.rows[it], sched.stepScalars(it))
					if err != nil {
						t.Fatal(err)
					}
					losses = append(losses, l)
				}
				return losses, f.host(t)
			}
			hostLoss, hostState := run(false)
			graphLoss, graphState := run(true)
			for it := range hostLoss {
				if d := maxRelDiff(hostLoss[it], graphLoss[it]); d != 0 {
					t.Errorf("step %d: per-head losses differ by %g (host gather %v, graph gather %v)", it, d, hostLoss[it], graphLoss[it])
				}
			}
			for i, group := range [][][]float32{hostState.Student, hostState.Teacher, hostState.M, hostState.V} {
				other := [][][]float32{graphState.Student, graphState.Teacher, graphState.M, graphState.V}[i]
				for j := range group {
					if d := maxRelDiff(group[j], other[j]); d != 0 {
						t.Errorf("state group %d tensor %d differs by %g between the gather paths", i, j, d)
					}
				}
			}
		})
	}
}

// TestHostGatherRejectsBadRow: a row outside the train matrix is an error
// (not a crash), and the state is left as it was.
func TestHostGatherRejectsBadRow(t *testing.T) {
	sched := schedules{LR: []float64{0.01}, WD: []float64{0.1}, Momentum: []float64{0.9}, TeacherTemp: []float64{0.07}, ItersPerEpoch: 1}
	f := newStepFixture(t, "go", smallArch(), sched, 0.1)
	if !f.run.sb.hostGather {
		t.Skip("the go backend has no shared buffers here")
	}
	before := f.host(t)
	rows := append([]int32(nil), f.rows[0]...)
	rows[rand.IntN(len(rows))] = int32(f.data.Rows)
	if _, err := f.run.step(rows, sched.stepScalars(0)); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("row %d of %d: error %v, want one saying it is outside", f.data.Rows, f.data.Rows, err)
	}
	after := f.host(t)
	for j := range before.Student {
		if d := maxRelDiff(after.Student[j], before.Student[j]); d != 0 {
			t.Errorf("student tensor %d changed by a failed step", j)
		}
	}
}
