package losstest

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/metrics"
	"github.com/clusterlab/clusterlab/core/neighbours"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/internal/testblobs"
)

// CheckFit trains the loss with the shared trainer (train.NewLoss, as the
// plugin's main serves it) on four well separated Gaussian blobs, written
// as .npy files with their k-NN graph, on the go backend: a short run must
// finish, write [H, N] assignments of every split that recover the blobs
// (the best head's train accuracy at least minAcc), and a second Fit in
// the same directory must resume from the finished run's checkpoint
// (the loss's state included) straight to the assignment. opts are loss
// options (nil for the defaults).
func CheckFit(t *testing.T, loss train.GraphLoss, opts core.Options, minAcc float64) {
	t.Helper()
	checkFit(t, loss, opts, minAcc, "go")
}

// checkFit is CheckFit on a backend; it returns the best head's train
// assignment and the head losses, for determinism checks.
func checkFit(t *testing.T, loss train.GraphLoss, opts core.Options, minAcc float64, backendName string) ([]int32, []float64) {
	t.Helper()
	const n, d, classes, k = 512, 16, 4, 10
	dir := t.TempDir()
	x, labels := testblobs.Blobs{Centres: testblobs.Separated(classes, d), Noise: 0.6, R: rand.New(rand.NewPCG(21, 21))}.Draw(n)
	trainPath, knnPath := filepath.Join(dir, "train.npy"), filepath.Join(dir, "knn.npy")
	if err := npy.WriteFloat32(trainPath, x, n, d); err != nil {
		t.Fatal(err)
	}
	idx, _, err := neighbours.KNN(t.Context(), OpenBackend(t, "go"), x, n, d, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteInt32(knnPath, idx, n, k); err != nil {
		t.Fatal(err)
	}
	all := core.Options{
		train.OptHeads: 3, train.OptEpochs: 12, train.OptBatchSize: 64, train.OptLR: 0.02, train.OptMinLR: 0.002,
		train.OptWarmupEpochs: 1, train.OptHiddenDim: 32, train.OptBottleneckDim: 16, train.OptKNN: k,
		train.OptMomentumTeacher: 0.9, train.OptMaxMomentumTeacher: 0.99,
	}
	for key, v := range opts {
		all[key] = v
	}
	req := core.FitRequest{Options: all, Train: trainPath, Neighbours: knnPath, Assign: map[string]string{"train": trainPath},
		Clusters: classes, Seed: 5, Backend: backendName, OutDir: filepath.Join(dir, "run")}
	fit := train.NewLoss(loss)
	res, err := fit.Fit(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("fit on %s: %v", backendName, err)
	}
	if len(res.HeadLosses) != 3 || res.BestHead < 0 || res.BestHead > 2 {
		t.Fatalf("result %+v, want 3 head losses", res)
	}
	for _, l := range res.HeadLosses {
		if math.IsNaN(l) || math.IsInf(l, 0) {
			t.Fatalf("head losses %v", res.HeadLosses)
		}
	}
	assign, shape, err := npy.ReadInt32(res.Assignments["train"])
	if err != nil || len(shape) != 2 || shape[0] != 3 || shape[1] != n {
		t.Fatalf("train assignments %v: %v", shape, err)
	}
	pred := make([]int, n)
	for i, c := range assign[res.BestHead*n : (res.BestHead+1)*n] {
		pred[i] = int(c)
	}
	acc := metrics.HungarianACC(labels, pred)
	t.Logf("best head %d, head losses %v, train accuracy %.3f", res.BestHead, res.HeadLosses, acc)
	if acc < minAcc {
		t.Errorf("train accuracy of the best head %.3f, want >= %.2f", acc, minAcc)
	}
	var resumed, trained bool
	if _, err := fit.Fit(context.Background(), req, func(p core.Progress) {
		resumed = resumed || strings.Contains(p.Message, "resuming")
		trained = trained || p.Step > 0 && p.Message == ""
	}); err != nil {
		t.Fatalf("fit again in the finished run's directory: %v", err)
	}
	if !resumed || trained {
		t.Errorf("second fit: resumed %v, trained %v; want a resume from the checkpoint without training", resumed, trained)
	}
	return assign[res.BestHead*n : (res.BestHead+1)*n], res.HeadLosses
}
