package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/internal/testbin"
	"github.com/clusterlab/clusterlab/plugins"
)

// TestPluginProcess builds clusterlab-dataset-stl10 and talks to it over
// the plugin protocol, as the runner does: the fixture's images arrive
// intact and upright, and a bad file is invalid input naming the file.
func TestPluginProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED in -short mode: builds the plugin executable")
	}
	exe := testbin.Path(t, testbin.Plugin("datasets/stl10"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := plugins.Launch(ctx, core.KindDataset, exe)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	f := smallFixture()
	ms := f.members()
	root := writeArchive(t, t.TempDir(), ms)
	opts := core.Options{"root": root, "unlabeled": true, "fold": 5}
	info, err := c.Dataset().Describe(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	local, err := Dataset{}.Describe(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if info.Identity != local.Identity || len(info.Classes) != 10 || info.Height != 96 || len(info.Splits) != 3 {
		t.Errorf("over the protocol: identity %q (local %q), %d classes, splits %+v", info.Identity, local.Identity, len(info.Classes), info.Splits)
	}
	for _, split := range []string{core.SplitTrain, splitUnlab} {
		var px []byte
		var labels []int32
		// 100 images of 27 KB: the adapters cut the batch below 2 MiB.
		err = c.Dataset().Read(ctx, core.ReadRequest{Options: opts, Split: split, BatchSize: 100}, func(b core.ImageBatch) error {
			px = append(px, b.Pixels...)
			labels = append(labels, b.Labels...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want, wantLabels := torchvisionSTL10(memberData(ms, fileTrainX), memberData(ms, fileTrainY), memberData(ms, fileFolds), 5)
		if split == splitUnlab {
			want, wantLabels = torchvisionSTL10(memberData(ms, fileUnlabeledX), nil, nil, noFold)
		}
		if !bytes.Equal(px, want) || fmt.Sprint(labels) != fmt.Sprint(wantLabels) {
			t.Errorf("%s over the protocol: %d bytes, labels %v; want %d bytes, labels %v", split, len(px), labels, len(want), wantLabels)
		}
	}
	y := append([]byte(nil), memberData(ms, fileTestY)...)
	y[3] = 0
	bad := writeFolder(t, filepath.Join(t.TempDir(), folderName), replace(ms, fileTestY, y))
	_, err = c.Dataset().Describe(ctx, core.Options{"root": bad})
	if err == nil || !plugins.IsInvalidInput(err) || !strings.Contains(err.Error(), filepath.Join(bad, fileTestY)) || !strings.Contains(err.Error(), "at byte offset 3") {
		t.Errorf("label 0 over the protocol: %v (invalid input: %v)", err, plugins.IsInvalidInput(err))
	}
}

// TestEndToEnd runs `clusterlab run` on the fixture archive through real
// plugin processes: dataset stl10 with the unlabeled split, backbone
// pixels (PCA), loss temi for a few epochs. Every split is embedded,
// assigned and scored, and drawn in a gallery; a truncated archive fails
// the run with exit status 2 naming the member and the offset.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED in -short mode: builds the runner and plugins")
	}
	if runtime.GOOS != "linux" {
		t.Skip("end-to-end test runs on Linux")
	}
	t.Parallel()
	bin := testbin.Build(t, testbin.Runner, testbin.Plugin("datasets/stl10"), testbin.Plugin("backbones/pixels"), testbin.Plugin("losses/temi"))
	dir := t.TempDir()
	ms := smallFixture().members()
	archive := writeArchive(t, filepath.Join(dir, "data"), ms)
	gz, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut", archiveName)
	if err := os.MkdirAll(filepath.Dir(cut), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cut, gz[:len(gz)*85/100], 0o644); err != nil {
		t.Fatal(err)
	}
	config := func(root string) string {
		return fmt.Sprintf(`
experiment: stl10_e2e
seed: 3
runs_dir: runs
cache_dir: cache
dataset: {plugin: stl10, root: %s, unlabeled: true}
backbone: {plugin: pixels, pca_dims: 8}
neighbours: {k: 5}
baselines: {kmeans_n_init: 2, knn_classifier_k: 5}
loss: {plugin: temi, heads: 2, epochs: 3, batch_size: 8, warmup_epochs: 1, hidden_dim: 32, bottleneck_dim: 16}
`, root)
	}
	tmp := t.TempDir()
	run := func(cfg string) (int, string, string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "stl10.yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		r := testbin.Run(t, testbin.RunnerCmd(bin, dir, tmp, "run", "stl10.yaml"))
		return r.Code, r.Stdout, r.Stderr
	}

	code, stdout, stderr := run(config(archive))
	if code != 0 {
		t.Fatalf("run failed (%d):\n%s\n%s", code, stdout, stderr)
	}
	runDir := testbin.RunDir(dir, stdout)
	mf, err := rundir.ReadMetrics(runDir)
	if err != nil {
		t.Fatal(err)
	}
	if mf.Clusters != 10 || mf.Classes != 10 || mf.Provenance == nil || mf.Provenance.Dataset.Name != "stl10" ||
		!strings.Contains(mf.Provenance.Dataset.Identity, "train=20 test=12 unlabeled=30") {
		t.Errorf("clusters %d, classes %d, provenance %+v", mf.Clusters, mf.Classes, mf.Provenance)
	}
	n := map[string]int{}
	for _, r := range mf.Results {
		if r.Method == "temi" && r.Selection == "best-head" {
			n[r.Split] = r.N
		}
		// The unlabeled images (label -1) are assigned but left out of
		// the label metrics; train and test are scored on every image.
		wantUnlabelled := 0
		if r.Split == splitUnlab {
			wantUnlabelled = r.N
		}
		if r.Unlabelled != wantUnlabelled || r.Labelled() != (r.Split != splitUnlab) || (r.Split == splitUnlab && !math.IsNaN(r.ACC)) {
			t.Errorf("%s %s on %s: %d of %d images unlabelled, ACC %v", r.Method, r.Selection, r.Split, r.Unlabelled, r.N, r.ACC)
		}
	}
	if fmt.Sprint(n) != fmt.Sprint(map[string]int{"test": 12, "train": 20, "unlabeled": 30}) {
		t.Errorf("best-head results cover %v images", n)
	}
	// The run's labels: the fixture's, 0-based, and -1 for every unlabeled
	// image.
	_, wantTrain := torchvisionSTL10(memberData(ms, fileTrainX), memberData(ms, fileTrainY), nil, noFold)
	_, wantTest := torchvisionSTL10(memberData(ms, fileTestX), memberData(ms, fileTestY), nil, noFold)
	for split, want := range map[string][]int{core.SplitTrain: wantTrain, core.SplitTest: wantTest, splitUnlab: slices.Repeat([]int{-1}, 30)} {
		h, raw, err := npy.ReadFile(filepath.Join(runDir, "labels_"+split+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for i := 0; h.DType == "<i4" && i+4 <= len(raw); i += 4 {
			got = append(got, int(int32(binary.LittleEndian.Uint32(raw[i:]))))
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("labels_%s.npy (%s %v): %v, want %v", split, h.DType, h.Shape, got, want)
		}
	}
	for _, f := range []string{"assign_unlabeled.npy", "probs_unlabeled.npy", "kmeans_unlabeled.npy", "gallery_train.png", "gallery_test.png", "gallery_unlabeled.png", "report.html"} {
		if _, err := os.Stat(filepath.Join(runDir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}

	code, stdout, stderr = run(config(cut))
	if code != 2 || !strings.Contains(stderr, cut+", member stl10_binary/unlabeled_X.bin") || !strings.Contains(stderr, "byte offset (uncompressed)") ||
		!strings.Contains(stderr, "truncated") {
		t.Errorf("truncated archive: exit %d, want 2 naming the member and the offset:\n%s\n%s", code, stdout, stderr)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("the runs left %d files in their TMPDIR", len(entries))
	}
}
