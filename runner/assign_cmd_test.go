package main

import (
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/store"
	"github.com/clusterlab/clusterlab/internal/testbin"
)

// checkAssignFeatures assigns a finished run's own cached embeddings
// (TestAssignExportDinov2 trains it): the clusters must be the run's and
// the probabilities its probs to 1e-5; features of another dimension or
// backbone, and output folders that are not assign's, are refused.
func checkAssignFeatures(t *testing.T, tr tinyRun) {
	best := bestHead(t, tr.runDir)
	test := embeddingsOf(t, tr.runDir, "test")
	r := clusterlabWith(t, exportTargets, tr.dir, "assign", tr.runDir, test)
	if r.code != 0 {
		t.Fatalf("assign: %d %s", r.code, r.stderr)
	}
	out := filepath.Join(tr.runDir, rundir.AssignedDir, "embeddings")
	if !strings.Contains(r.stdout, "assignments: "+out) {
		t.Errorf("assign printed:\n%s", r.stdout)
	}
	wantC, wantP, k := stored(t, tr.runDir, "test", best)
	gotC, gotP := readAssigned(t, out)
	compare(t, "assign test embeddings", gotC, gotP, wantC, wantP)

	// assign.json and the CSV say the same.
	var rec rundir.AssignRecord
	b, _ := os.ReadFile(filepath.Join(out, rundir.AssignRecordFile))
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	run, _ := rundir.ReadRecord(tr.runDir)
	if rec.Kind != rundir.AssignFeatures || rec.Head != best || rec.BestHead != best || rec.Clusters != k || rec.Dim != 128 || rec.Input != test ||
		rec.Run.Identity != run.Identity || rec.Backbone.Identity != run.Inputs.Backbone.Identity || len(rec.Splits) != 1 || rec.Splits[0].N != len(wantC) {
		t.Errorf("assign.json: %s", b)
	}
	sizes := make([]int, k)
	for _, c := range wantC {
		sizes[c]++
	}
	if !slices.Equal(rec.Splits[0].ClusterSizes, sizes) {
		t.Errorf("cluster sizes %v, want %v", rec.Splits[0].ClusterSizes, sizes)
	}
	rows := readAssignCSV(t, filepath.Join(out, rundir.AssignCSVFile))
	if !slices.Equal(rows[0], []string{"index", "cluster", "probability"}) || len(rows) != len(wantC)+1 {
		t.Fatalf("assignments.csv: header %v, %d rows", rows[0], len(rows))
	}
	for i, row := range rows[1:] {
		c, _ := strconv.Atoi(row[1])
		p, _ := strconv.ParseFloat(row[2], 32)
		if row[0] != strconv.Itoa(i) || c != int(wantC[i]) || float32(p) != gotP[i*k+c] {
			t.Errorf("assignments.csv row %d: %v", i, row)
		}
	}

	// Another head; float64 features of the same values.
	other := 1 - best
	x, shape, _ := npy.ReadFloat32(test)
	f64 := filepath.Join(tr.dir, "test64.npy")
	writeFloat64(t, f64, x, shape)
	if r := clusterlabWith(t, exportTargets, tr.dir, "assign", tr.runDir, f64, "--head", fmt.Sprint(other)); r.code != 0 {
		t.Fatalf("assign --head %d: %d %s", other, r.code, r.stderr)
	}
	wantOther, _, _ := stored(t, tr.runDir, "test", other)
	gotOther, _ := readAssigned(t, filepath.Join(tr.runDir, rundir.AssignedDir, "test64"))
	compare(t, fmt.Sprintf("head %d on float64 features", other), gotOther, nil, wantOther, nil)

	refuse := func(what, want string, args ...string) {
		t.Helper()
		r := clusterlabWith(t, exportTargets, tr.dir, args...)
		if r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 saying %q", what, r.code, r.stderr, want)
		}
	}
	narrow := filepath.Join(tr.dir, "narrow.npy")
	npy.WriteFloat32(narrow, make([]float32, 15), 5, 3)
	refuse("features of another dimension", "features of dimension 3, but the run's heads take the 128-dimensional", "assign", tr.runDir, narrow)
	// A cache entry of another backbone: its meta.json says so.
	alien := filepath.Join(tr.dir, "alien")
	os.MkdirAll(alien, 0o755)
	b, _ = os.ReadFile(test)
	os.WriteFile(filepath.Join(alien, "embeddings.npy"), b, 0o644)
	meta := store.Meta{Identity: map[string]string{"backbone": "pixels", "backbone_identity": "pixels 1.0.0 other"},
		Arrays: map[string]store.Array{"embeddings": {}}}
	mb, _ := json.Marshal(meta)
	os.WriteFile(filepath.Join(alien, "meta.json"), mb, 0o644)
	refuse("features of another backbone", "computed by backbone pixels (pixels 1.0.0 other", "assign", tr.runDir, filepath.Join(alien, "embeddings.npy"))
	refuse("output into the run", "is the run directory", "assign", tr.runDir, test, "--out", tr.runDir)
	refuse("output among other files", "files that are not an assignment", "assign", tr.runDir, test, "--out", alien)
	refuse("unknown head", "head 9: the run trained heads 0 to 1", "assign", tr.runDir, test, "--head", "9")
	refuse("not an input", "want a folder of images", "assign", tr.runDir, filepath.Join(tr.dir, "dino.yaml"))

	// Cancelled: nothing is left, not even the output folder.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cancelled := filepath.Join(tr.dir, "cancelled")
	err := cmdAssign(ctx, tr.runDir, test, assignOptions{out: cancelled}, io.Discard)
	if err == nil {
		t.Error("a cancelled assign succeeded")
	}
	if _, err := os.Stat(cancelled); !os.IsNotExist(err) {
		t.Errorf("a cancelled assign left %s (%v)", cancelled, err)
	}
}

func writeFloat64(t *testing.T, path string, x []float32, shape []int) {
	t.Helper()
	b := npy.EncodeHeader("<f8", shape)
	for _, v := range x {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(float64(v)))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readAssignCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// imagesTargets are the binaries of a run on a folder of images.
var imagesTargets = []testbin.Target{testbin.Runner, testbin.Plugin("datasets/images"), testbin.Plugin("backbones/pixels"), testbin.Plugin("losses/temi")}

// imagesConfig clusters a folder of PNG files with the pixels backbone and
// a PCA fitted on the train split (its state is in the cache).
const imagesConfig = `
experiment: photos
seed: 3
dataset: {plugin: images, root: photos}
backbone: {plugin: pixels, pca_dims: 12}
neighbours: {k: 5}
baselines: {kmeans_n_init: 1, knn_classifier: false}
clusters: 3
loss:
  plugin: temi
  heads: 2
  epochs: 2
  warmup_epochs: 1
  warmup_teacher_temp_epochs: 1
  batch_size: 12
  knn: 5
  hidden_dim: 24
  bottleneck_dim: 12
  embed_norm: true
`

// writePNGs writes n 10x10 RGB images of three kinds (a colour each, with
// noise) into dir/<class>/, with names that need quoting in a CSV.
func writePNGs(t *testing.T, dir string, n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 5))
	classes := []string{"red", "green", "blue"}
	for i := range n {
		c := i % 3
		img := image.NewRGBA(image.Rect(0, 0, 10, 10))
		for y := range 10 {
			for x := range 10 {
				v := [3]uint8{uint8(rng.IntN(80)), uint8(rng.IntN(80)), uint8(rng.IntN(80))}
				v[c] += 150
				img.Set(x, y, color.RGBA{v[0], v[1], v[2], 255})
			}
		}
		p := filepath.Join(dir, classes[c], fmt.Sprintf("img %02d, \"q\".png", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// TestAssignImages trains on a folder of PNG files (train/ and test/ with
// class folders), then assigns the same folder: every split's clusters
// must be the run's and its probabilities the run's to 1e-5, through the
// run's fitted PCA; the CSV names every image. A backbone configured with
// another identity is refused.
func TestAssignImages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writePNGs(t, filepath.Join(dir, "photos", "train"), 36, 1)
	writePNGs(t, filepath.Join(dir, "photos", "test"), 12, 2)
	os.WriteFile(filepath.Join(dir, "photos.yaml"), []byte(imagesConfig), 0o644)
	r := clusterlabWith(t, imagesTargets, dir, "run", "photos.yaml")
	if r.code != 0 {
		t.Fatalf("run: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	runDir := runDirOf(t, dir, r)
	best := bestHead(t, runDir)
	r = clusterlabWith(t, imagesTargets, dir, "assign", runDir, "photos")
	if r.code != 0 {
		t.Fatalf("assign: %d %s", r.code, r.stderr)
	}
	out := filepath.Join(runDir, rundir.AssignedDir, "photos")
	for _, split := range []string{"train", "test"} {
		wantC, wantP, _ := stored(t, runDir, split, best)
		gotC, gotP := readAssigned(t, filepath.Join(out, split))
		compare(t, "assign images of "+split, gotC, gotP, wantC, wantP)
		rows := readAssignCSV(t, filepath.Join(out, split, rundir.AssignCSVFile))
		if !slices.Equal(rows[0], rundir.AssignCSVHeader) || len(rows) != len(wantC)+1 {
			t.Fatalf("%s CSV: header %v, %d rows", split, rows[0], len(rows))
		}
		for _, row := range rows[1:] {
			if !strings.HasSuffix(row[1], `, "q".png`) || !strings.Contains(row[1], "/") {
				t.Errorf("%s CSV: path %q, want the image's path in the folder", split, row[1])
				break
			}
		}
	}
	// With another backbone, or without the run's fitted PCA, no assignment.
	r = clusterlabWith(t, imagesTargets, dir, "assign", runDir, "photos", "--set", "backbone.pca_dims=6", "--out", "other")
	if r.code != 2 || !strings.Contains(r.stderr, "is not the one the run trained on") {
		t.Errorf("another backbone identity: %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "other")); !os.IsNotExist(err) {
		t.Errorf("a refused assign left its output folder (%v)", err)
	}
	states, _ := filepath.Glob(filepath.Join(dir, "cache", "backbone-state", "*", "*"))
	if len(states) != 1 {
		t.Fatalf("backbone states in the cache: %v", states)
	}
	os.RemoveAll(states[0])
	r = clusterlabWith(t, imagesTargets, dir, "assign", runDir, "photos")
	if r.code != 2 || !strings.Contains(r.stderr, "that fitted state is not in the cache") || !strings.Contains(r.stderr, "clusterlab embed") {
		t.Errorf("fitted state gone: %d %s", r.code, r.stderr)
	}
}
