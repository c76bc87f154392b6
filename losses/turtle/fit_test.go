package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/metrics"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/internal/tbcheck"
	"github.com/clusterlab/clusterlab/internal/testblobs"
)

// blobDims are the dimensions of the test problem's two spaces.
var blobDims = []int{8, 5}

const blobClasses = 3

// blobProblem writes three well separated Gaussian blobs, seen in two
// spaces (each its own centres and noise, the same images), train and
// test splits, into dir, and returns the request of a short fit (opts
// on top of fast options) and the true labels of each split.
func blobProblem(t testing.TB, dir string, nTrain, nTest int, opts core.Options) (core.FitRequest, map[string][]int) {
	t.Helper()
	r := rand.New(rand.NewPCG(11, 12))
	labels := map[string][]int{}
	req := core.FitRequest{Clusters: blobClasses, Seed: 3, Backend: "go", OutDir: filepath.Join(dir, "run"), Assign: map[string]string{}}
	for _, split := range []string{"train", "test"} {
		n := nTrain
		if split == "test" {
			n = nTest
		}
		lab := make([]int, n)
		for i := range lab {
			lab[i] = r.IntN(blobClasses)
		}
		labels[split] = lab
	}
	for s, d := range blobDims {
		sp := core.Space{Name: []string{"a", "b"}[s], Assign: map[string]string{}}
		b := testblobs.Blobs{Centres: testblobs.Separated(blobClasses, d), Noise: 0.5, R: r}
		for _, split := range []string{"train", "test"} {
			lab := labels[split]
			x := make([]float32, len(lab)*d)
			for i, c := range lab {
				for j := range d {
					x[i*d+j] = float32(b.Centres[c][j] + b.Noise*r.NormFloat64())
				}
			}
			path := filepath.Join(dir, sp.Name+"_"+split+".npy")
			if err := npy.WriteFloat32(path, x, len(lab), d); err != nil {
				t.Fatal(err)
			}
			sp.Assign[split] = path
			if split == "train" {
				sp.Train = path
			}
		}
		req.Spaces = append(req.Spaces, sp)
	}
	// What a single-space loss would read: unused by TURTLE, which has
	// Spaces.
	req.Train, req.Assign = req.Spaces[0].Train, req.Spaces[0].Assign
	req.Options = core.Options{OptIterations: 40, OptBatchSize: 64, OptInnerSteps: 4, OptInnerLR: 0.05, OptOuterLR: 0.05, OptCheckpointEvery: 10}
	for k, v := range opts {
		req.Options[k] = v
	}
	return req, labels
}

// runFiles are the bytes of a finished fit's outputs: assign_* and
// probs_* of every split, and history.jsonl with the seconds zeroed.
func runFiles(t testing.TB, res core.FitResult) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for split, p := range res.Assignments {
		out["assign_"+split] = readFile(t, p)
		out["probs_"+split] = readFile(t, res.Probabilities[split])
	}
	hist, err := rundir.ReadHistory(res.History)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, r := range hist {
		r.Seconds = 0
		line, _ := json.Marshal(r)
		b.Write(line)
		b.WriteByte('\n')
	}
	out["history"] = b.Bytes()
	return out
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameFiles(t *testing.T, what string, a, b map[string][]byte) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d files and %d", what, len(a), len(b))
	}
	for k := range a {
		if !bytes.Equal(a[k], b[k]) {
			t.Errorf("%s: %s differs", what, k)
		}
	}
}

// TestFitBlobs trains on the blobs on every backend and checks the
// outputs: files of the right shapes for every split, probabilities that
// are distributions whose argmax is the assignment, one history record
// per iteration, and the blobs recovered.
func TestFitBlobs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, name string, _ computeBackend) {
		req, labels := blobProblem(t, t.TempDir(), 300, 90, nil)
		req.Backend = name
		var msgs []string
		last := core.Progress{}
		res, err := New().Fit(context.Background(), req, func(p core.Progress) {
			if p.Message != "" {
				msgs = append(msgs, p.Message)
			} else {
				last = p
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("messages: %q", msgs)
		if !strings.HasPrefix(res.Backend, name) || res.BestHead != 0 || len(res.HeadLosses) != 1 || res.Seconds <= 0 {
			t.Errorf("result %+v", res)
		}
		if last.Epoch != 40 || last.Epochs != 40 || last.Step != 40 || last.Steps != 40 {
			t.Errorf("last progress %+v, want iteration 40 of 40", last)
		}
		if !strings.Contains(strings.Join(msgs, "\n"), "batch of 64 of the 300 train rows") {
			t.Errorf("no message about the batch size in %q", msgs)
		}
		hist, err := rundir.ReadHistory(res.History)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 40 || hist[39].Epoch != 40 || hist[39].Loss != res.HeadLosses[0] || hist[39].ClustersUsed != 3 || hist[39].Entropy <= 0 || hist[39].PredError <= 0 {
			t.Errorf("history: %d records, last %+v", len(hist), hist[len(hist)-1])
		}
		for _, split := range []string{"train", "test"} {
			n := len(labels[split])
			assign, shape, err := npy.ReadInt32(res.Assignments[split])
			if err != nil || len(shape) != 2 || shape[0] != 1 || shape[1] != n {
				t.Fatalf("%s assignments %v: %v", split, shape, err)
			}
			probs, pshape, err := npy.ReadFloat32(res.Probabilities[split])
			if err != nil || len(pshape) != 2 || pshape[0] != n || pshape[1] != blobClasses {
				t.Fatalf("%s probabilities %v: %v", split, pshape, err)
			}
			pred := make([]int, n)
			for i := range n {
				row := probs[i*blobClasses : (i+1)*blobClasses]
				sum := 0.0
				for _, p := range row {
					sum += float64(p)
				}
				if math.Abs(sum-1) > 1e-5 {
					t.Fatalf("%s row %d: probabilities %v sum to %v", split, i, row, sum)
				}
				if argmaxFirst(row) != int(assign[i]) {
					t.Fatalf("%s row %d: assignment %d is not the argmax of %v", split, i, assign[i], row)
				}
				pred[i] = int(assign[i])
			}
			acc := metrics.HungarianACC(labels[split], pred)
			t.Logf("%s accuracy %.3f, final loss %.4f", split, acc, res.HeadLosses[0])
			if acc < 0.98 {
				t.Errorf("%s accuracy %.3f: the blobs were not recovered", split, acc)
			}
		}
	})
}

// TestDeterminism: the same seed gives the same bytes, another seed
// other ones.
func TestDeterminism(t *testing.T) {
	dir := t.TempDir()
	req, _ := blobProblem(t, dir, 120, 30, core.Options{OptIterations: 12})
	fit := func(seed int64, out string) map[string][]byte {
		r := req
		r.Seed, r.OutDir = seed, filepath.Join(dir, out)
		res, err := New().Fit(context.Background(), r, nil)
		if err != nil {
			t.Fatal(err)
		}
		return runFiles(t, res)
	}
	a, b, c := fit(3, "a"), fit(3, "b"), fit(4, "c")
	sameFiles(t, "two fits with seed 3", a, b)
	if bytes.Equal(a["probs_train"], c["probs_train"]) || bytes.Equal(a["history"], c["history"]) {
		t.Errorf("seeds 3 and 4 gave the same probabilities or history")
	}
}

// TestResumeExact interrupts a fit right after an iteration that is not a
// checkpoint, resumes it and checks that it writes the bytes of an
// uninterrupted fit, on every backend, with cold and warm start; then
// that a finished run's directory resumes straight to the assignment.
func TestResumeExact(t *testing.T) {
	forEachBackend(t, func(t *testing.T, name string, _ computeBackend) {
		for _, warm := range []bool{false, true} {
			dir := t.TempDir()
			req, _ := blobProblem(t, dir, 120, 30, core.Options{OptIterations: 25, OptCheckpointEvery: 10, OptWarmStart: warm})
			req.Backend = name
			req.OutDir = filepath.Join(dir, "whole")
			whole, err := New().Fit(context.Background(), req, nil)
			if err != nil {
				t.Fatal(err)
			}

			req.OutDir = filepath.Join(dir, "parts")
			ctx, cancel := context.WithCancel(context.Background())
			afterIteration = func(it int) {
				if it == 13 { // 14 iterations done, the last checkpoint after 10
					cancel()
				}
			}
			_, err = New().Fit(ctx, req, nil)
			afterIteration = nil
			cancel()
			if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "rerun to resume") ||
				!strings.Contains(err.Error(), "after iteration 14 of 25") {
				t.Fatalf("interrupted fit: %v; want a cancellation after iteration 14 that says to rerun", err)
			}
			hist, err := rundir.ReadHistory(filepath.Join(req.OutDir, rundir.HistoryFile))
			if err != nil || len(hist) != 14 {
				t.Fatalf("history after the interruption: %d records (%v), want 14", len(hist), err)
			}
			var resumed string
			iterations := 0
			parts, err := New().Fit(context.Background(), req, func(p core.Progress) {
				if strings.HasPrefix(p.Message, "resuming") {
					resumed = p.Message
				}
				if p.Message == "" {
					iterations++
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(resumed, "after iteration 14 of 25") {
				t.Errorf("resume message %q, want one after iteration 14", resumed)
			}
			sameFiles(t, "interrupted and resumed vs whole", runFiles(t, whole), runFiles(t, parts))
			// The TensorBoard series, read by the protoc-generated reader:
			// every iteration once, with history.jsonl's values.
			hist, err = rundir.ReadHistory(filepath.Join(req.OutDir, rundir.HistoryFile))
			if err != nil {
				t.Fatal(err)
			}
			files := tbcheck.ReadClean(t, filepath.Join(req.OutDir, rundir.TensorBoardDir))
			for _, tag := range []string{"turtle/loss", "turtle/pred_error", "turtle/entropy", "turtle/clusters_used"} {
				series := tbcheck.Series(t, files, tag) // fails on a step written twice
				if len(series) != len(hist) {
					t.Errorf("%s: %d steps, want %d", tag, len(series), len(hist))
				}
				for _, h := range hist {
					v, ok := series[int64(h.Epoch)]
					if !ok {
						t.Errorf("%s: no value at step %d", tag, h.Epoch)
						continue
					}
					want := map[string]float64{"turtle/loss": h.Loss, "turtle/pred_error": h.PredError,
						"turtle/entropy": h.Entropy, "turtle/clusters_used": float64(h.ClustersUsed)}[tag]
					if got := tbcheck.Scalar(t, v); got != float64(float32(want)) {
						t.Errorf("%s at step %d: %v, history.jsonl %v", tag, h.Epoch, got, want)
					}
				}
			}
			if whole.HeadLosses[0] != parts.HeadLosses[0] {
				t.Errorf("final loss %v resumed, %v whole", parts.HeadLosses[0], whole.HeadLosses[0])
			}

			// A finished run: straight to the assignment, same files.
			iterations = 0
			again, err := New().Fit(context.Background(), req, func(p core.Progress) {
				if p.Message == "" {
					iterations++
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if iterations != 0 {
				t.Errorf("a finished run trained %d more progress reports; want none", iterations)
			}
			sameFiles(t, "finished run fitted again vs whole", runFiles(t, whole), runFiles(t, again))
		}
	})
}

// TestOtherCheckpointIgnored: a checkpoint of another configuration is
// ignored, with a message, and replaced.
func TestOtherCheckpointIgnored(t *testing.T) {
	dir := t.TempDir()
	req, _ := blobProblem(t, dir, 120, 30, core.Options{OptIterations: 5})
	if _, err := New().Fit(context.Background(), req, nil); err != nil {
		t.Fatal(err)
	}
	req.Options[OptGamma] = 5.0
	var ignored bool
	res, err := New().Fit(context.Background(), req, func(p core.Progress) {
		ignored = ignored || strings.Contains(p.Message, "ignoring")
	})
	if err != nil {
		t.Fatal(err)
	}
	if !ignored {
		t.Errorf("no message about the checkpoint of the other configuration")
	}
	fresh := req
	fresh.OutDir = filepath.Join(dir, "fresh")
	want, err := New().Fit(context.Background(), fresh, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameFiles(t, "after ignoring the checkpoint vs fresh", runFiles(t, res), runFiles(t, want))
}

// TestFitRejectsBadInput: inconsistent spaces and splits are invalid
// input with a message naming the problem.
func TestFitRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	req, _ := blobProblem(t, dir, 60, 20, core.Options{OptIterations: 2})
	short := filepath.Join(dir, "short.npy")
	if err := npy.WriteFloat32(short, make([]float32, 10*5), 10, 5); err != nil {
		t.Fatal(err)
	}
	wide := filepath.Join(dir, "wide.npy")
	if err := npy.WriteFloat32(wide, make([]float32, 20*6), 20, 6); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.npy")
	nan := make([]float32, 60*5)
	nan[7] = float32(math.NaN())
	if err := npy.WriteFloat32(bad, nan, 60, 5); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, want string
		edit       func(r *core.FitRequest)
	}{
		{"train rows differ", "have 10 rows", func(r *core.FitRequest) { r.Spaces[1].Train = short }},
		{"test rows differ", "have 10 rows", func(r *core.FitRequest) { r.Spaces[1].Assign["test"] = short }},
		{"test dimension differs", "dimension 6", func(r *core.FitRequest) { r.Spaces[1].Assign["test"] = wide }},
		{"split missing in a space", "no test embeddings", func(r *core.FitRequest) { delete(r.Spaces[1].Assign, "test") }},
		{"bad split name", "cannot be used in a file name", func(r *core.FitRequest) { r.Assign["../x"] = short }},
		{"one cluster", "want at least 2", func(r *core.FitRequest) { r.Clusters = 1 }},
		{"not finite", "not finite", func(r *core.FitRequest) { r.Spaces[1].Train = bad }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := blobProblem(t, t.TempDir(), 60, 20, core.Options{OptIterations: 2})
			c.edit(&r)
			_, err := New().Fit(context.Background(), r, nil)
			if err == nil || !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v; want invalid input saying %q", err, c.want)
			}
		})
	}
	_ = req
}

// TestNaNStops: finite embeddings so large that their logits overflow
// make the loss NaN; Fit must stop and say so.
func TestNaNStops(t *testing.T) {
	dir := t.TempDir()
	req, _ := blobProblem(t, dir, 60, 20, core.Options{OptIterations: 3})
	huge := make([]float32, 60*5)
	r := rand.New(rand.NewPCG(5, 5))
	for i := range huge {
		huge[i] = float32(math.Copysign(3e38, r.NormFloat64()))
	}
	path := filepath.Join(dir, "huge.npy")
	if err := npy.WriteFloat32(path, huge, 60, 5); err != nil {
		t.Fatal(err)
	}
	req.Spaces = req.Spaces[1:]
	req.Spaces[0].Train = path
	req.Spaces[0].Assign = map[string]string{"train": path}
	req.Assign = req.Spaces[0].Assign
	_, err := New().Fit(context.Background(), req, nil)
	if err == nil || !strings.Contains(err.Error(), "at iteration 1") || !strings.Contains(err.Error(), "lower outer_lr") {
		t.Errorf("error %v; want the loss's NaN at iteration 1", err)
	}
}

// TestSingleSpaceFallback: a request without Spaces (an older runner)
// trains on Train and assigns Assign.
func TestSingleSpaceFallback(t *testing.T) {
	req, labels := blobProblem(t, t.TempDir(), 150, 30, nil)
	req.Spaces = nil
	res, err := New().Fit(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	assign, _, err := npy.ReadInt32(res.Assignments["test"])
	if err != nil {
		t.Fatal(err)
	}
	pred := make([]int, len(assign))
	for i, c := range assign {
		pred[i] = int(c)
	}
	if acc := metrics.HungarianACC(labels["test"], pred); acc < 0.98 {
		t.Errorf("one space: test accuracy %.3f", acc)
	}
}
