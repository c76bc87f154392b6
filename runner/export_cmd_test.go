package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/onnxmodel"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/internal/testbin"
)

// The tests of assign and export train tiny runs with the real binaries
// and check that the run's head, applied by `clusterlab assign` in Go and
// by ONNX Runtime on the model `clusterlab export` writes, gives back what
// the trainer stored: assign_<split>.npy's row of the head exactly, and
// probs_<split>.npy to 1e-5.

// exportTargets are the binaries of the dinov2 run: the runner, and the
// plugins it uses (built alone, so that a plugin being rewritten elsewhere
// does not stop these tests).
var exportTargets = []testbin.Target{testbin.Runner, testbin.Plugin("datasets/idx"), testbin.Plugin("backbones/dinov2"),
	testbin.Plugin("backbones/precomputed"), testbin.Plugin("losses/temi")}

// clusterlabWith runs `clusterlab args...` in dir with the runner and
// plugins of targets.
func clusterlabWith(t *testing.T, targets []testbin.Target, dir string, args ...string) result {
	t.Helper()
	return runCmd(t, testbin.RunnerCmd(testbin.Build(t, targets...), dir, runnerTmp(t), args...))
}

// idxImages writes an idx dataset of n train and m test grey images of
// size x size (four classes: a bright quadrant each, on noise) and
// returns the pixels of each split.
func idxImages(t *testing.T, dir string, n, m, size int) map[string][]uint8 {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	rng := rand.New(rand.NewPCG(3, 4))
	out := map[string][]uint8{}
	for _, s := range []struct {
		split, file string
		n           int
	}{{"train", "train", n}, {"test", "t10k", m}} {
		px := make([]uint8, s.n*size*size)
		labels := make([]uint8, s.n)
		for i := range s.n {
			c := rng.IntN(4)
			labels[i] = uint8(c)
			for y := range size {
				for x := range size {
					v := rng.IntN(60)
					if y/(size/2) == c%2 && x/(size/2) == c/2 {
						v += 150
					}
					px[(i*size+y)*size+x] = uint8(v)
				}
			}
		}
		img := binary.BigEndian.AppendUint32(nil, 0x803)
		img = binary.BigEndian.AppendUint32(img, uint32(s.n))
		img = binary.BigEndian.AppendUint32(img, uint32(size))
		img = binary.BigEndian.AppendUint32(img, uint32(size))
		lab := binary.BigEndian.AppendUint32(nil, 0x801)
		lab = binary.BigEndian.AppendUint32(lab, uint32(s.n))
		if err := os.WriteFile(filepath.Join(dir, s.file+"-images-idx3-ubyte"), append(img, px...), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, s.file+"-labels-idx1-ubyte"), append(lab, labels...), 0o644); err != nil {
			t.Fatal(err)
		}
		out[s.split] = px
	}
	return out
}

// dinoConfig trains two heads on the tiny DINOv2 with registers (224x224
// grey images, kept at their size), pooling both the CLS token and the
// patch mean, with both input normalisations.
const dinoConfig = `
experiment: dino
seed: 1
runs_dir: runs
cache_dir: cache
dataset: {plugin: idx, name: idx, root: images}
backbone: {plugin: dinov2, model: %s, resize: 0, pooling: cls+patch-mean}
neighbours: {k: 5}
baselines: {kmeans_n_init: 1, knn_classifier: false}
clusters: 4
loss:
  plugin: temi
  heads: 2
  epochs: 2
  warmup_epochs: 1
  warmup_teacher_temp_epochs: 1
  batch_size: 16
  knn: 5
  hidden_dim: 32
  bottleneck_dim: 16
  embed_norm: true
  l2_norm: true
`

// tinyRun is a finished run and what it was trained on.
type tinyRun struct {
	dir, runDir string
	pixels      map[string][]uint8 // per split, grey [N, size, size]
	size        int
}

// trainDino runs dinoConfig in a new folder.
func trainDino(t *testing.T) tinyRun {
	t.Helper()
	dir := t.TempDir()
	model, err := filepath.Abs(filepath.Join("..", "backbones", "dinov2", "testdata", "dinov2_tiny_reg4.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	// The model is copied, so a test can change it.
	b, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "model.onnx"), b, 0o644)
	const size = 224
	px := idxImages(t, filepath.Join(dir, "images"), 48, 16, size)
	os.WriteFile(filepath.Join(dir, "dino.yaml"), []byte(fmt.Sprintf(dinoConfig, "model.onnx")), 0o644)
	r := clusterlabWith(t, exportTargets, dir, "run", "dino.yaml")
	if r.code != 0 {
		t.Fatalf("run: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	return tinyRun{dir: dir, runDir: runDirOf(t, dir, r), pixels: px, size: size}
}

// stored is what a run stored for a split: the head's row of assign and
// the selected head's probabilities.
func stored(t *testing.T, runDir, split string, head int) (assign []int32, probs []float32, k int) {
	t.Helper()
	a, shape, err := npy.ReadInt32(filepath.Join(runDir, rundir.AssignFile(split)))
	if err != nil {
		t.Fatal(err)
	}
	n := shape[1]
	p, pshape, err := npy.ReadFloat32(filepath.Join(runDir, rundir.ProbsFile(split)))
	if err != nil {
		t.Fatal(err)
	}
	return a[head*n : (head+1)*n], p, pshape[1]
}

func bestHead(t *testing.T, runDir string) int {
	t.Helper()
	mf, err := rundir.ReadMetrics(runDir)
	if err != nil {
		t.Fatal(err)
	}
	return mf.BestHead
}

// embeddingsOf is a split's embeddings in the run's cache.
func embeddingsOf(t *testing.T, runDir, split string) string {
	t.Helper()
	rec, err := rundir.ReadRecord(runDir)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := rec.Inputs.Embeddings[split]
	if !ok {
		t.Fatalf("run.json records no %s embeddings", split)
	}
	return a.Path
}

// compare checks clusters against the stored assignment exactly and
// probabilities to 1e-5 (when want is not nil).
func compare(t *testing.T, what string, gotC []int64, gotP []float32, wantC []int32, wantP []float32) {
	t.Helper()
	if len(gotC) != len(wantC) || (wantP != nil && len(gotP) != len(wantP)) {
		t.Fatalf("%s: %d clusters and %d probabilities, want %d and %d", what, len(gotC), len(gotP), len(wantC), len(wantP))
	}
	diff := 0
	for i := range gotC {
		if gotC[i] != int64(wantC[i]) {
			diff++
		}
	}
	if diff > 0 {
		t.Errorf("%s: %d of %d clusters differ from the run's", what, diff, len(gotC))
	}
	if wantP == nil {
		return
	}
	worst := 0.0
	for i := range gotP {
		worst = max(worst, math.Abs(float64(gotP[i]-wantP[i])))
	}
	if worst > 1e-5 {
		t.Errorf("%s: probabilities differ from the run's by up to %.3g, want <= 1e-5", what, worst)
	}
	t.Logf("%s: %d rows, clusters equal, probabilities within %.2g", what, len(gotC), worst)
}

var ortInit struct {
	sync.Once
	err error
}

// ortReady loads the ONNX Runtime library `make setup` installs, once.
func ortReady(t *testing.T) {
	t.Helper()
	ortInit.Do(func() {
		lib, err := backend.PrepareOrt()
		if err != nil {
			ortInit.err = err
			return
		}
		ort.SetSharedLibraryPath(lib)
		ortInit.err = ort.InitializeEnvironment(ort.WithLogLevelError())
	})
	if ortInit.err != nil {
		t.Fatalf("ONNX Runtime: %v", ortInit.err)
	}
}

// runONNX runs a model with one input on ONNX Runtime and returns its
// probabilities and clusters.
func runONNX(t *testing.T, path, input string, in ort.Value) ([]float32, []int64) {
	t.Helper()
	ortReady(t)
	s, err := ort.NewDynamicAdvancedSession(path, []string{input}, []string{exportProbs, exportCluster}, nil)
	if err != nil {
		t.Fatalf("ONNX Runtime cannot load %s: %v", path, err)
	}
	defer s.Destroy()
	outs := []ort.Value{nil, nil}
	if err := s.Run([]ort.Value{in}, outs); err != nil {
		t.Fatalf("run %s: %v", path, err)
	}
	defer outs[0].Destroy()
	defer outs[1].Destroy()
	p := append([]float32(nil), outs[0].(*ort.Tensor[float32]).GetData()...)
	c := append([]int64(nil), outs[1].(*ort.Tensor[int64]).GetData()...)
	return p, c
}

// runONNXEmbeddings feeds a .npy of embeddings to an exported head.
func runONNXEmbeddings(t *testing.T, model, embeddings string) ([]float32, []int64) {
	t.Helper()
	x, shape, err := npy.ReadFloat32(embeddings)
	if err != nil {
		t.Fatal(err)
	}
	ortReady(t)
	in, err := ort.NewTensor(ort.NewShape(int64(shape[0]), int64(shape[1])), x)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	return runONNX(t, model, exportEmbeddings, in)
}

// TestAssignExportDinov2 trains a dinov2 run; assign applies its heads to
// its cached embeddings (assign_cmd_test.go); export writes its head alone
// and behind the backbone, both run on ONNX Runtime; the model's metadata
// and the refusals are checked.
func TestAssignExportDinov2(t *testing.T) {
	t.Parallel()
	tr := trainDino(t)
	best := bestHead(t, tr.runDir)
	t.Run("assign", func(t *testing.T) { checkAssignFeatures(t, tr) })

	for _, head := range []int{best, 1 - best} {
		file := filepath.Join(tr.dir, fmt.Sprintf("head%d.onnx", head))
		r := clusterlabWith(t, exportTargets, tr.dir, "export", tr.runDir, "--onnx", file, "--head", fmt.Sprint(head))
		if r.code != 0 {
			t.Fatalf("export: %d %s", r.code, r.stderr)
		}
		for _, split := range []string{"train", "test"} {
			wantC, wantP, _ := stored(t, tr.runDir, split, head)
			if head != best {
				wantP = nil // probs_<split>.npy are the selected head's
			}
			gotP, gotC := runONNXEmbeddings(t, file, embeddingsOf(t, tr.runDir, split))
			compare(t, fmt.Sprintf("head %d on %s embeddings", head, split), gotC, gotP, wantC, wantP)
		}
	}

	// The model's metadata says what it is.
	m, err := onnxmodel.Read(filepath.Join(tr.dir, fmt.Sprintf("head%d.onnx", best)), onnxmodel.MaxFileBytes)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := rundir.ReadRecord(tr.runDir)
	md := onnxmodel.MetadataOf(m)
	for k, want := range map[string]string{"run_identity": rec.Identity, "head": fmt.Sprint(best), "clusters": "4", "embedding_dim": "128",
		"backbone": "dinov2", "backbone_identity": rec.Inputs.Backbone.Identity, "with_backbone": "false"} {
		if md[k] != want {
			t.Errorf("metadata %s = %q, want %q", k, md[k], want)
		}
	}
	if m.GetIrVersion() != onnxmodel.IRVersion || onnxmodel.Opset(m, "") != onnxmodel.DefaultOpset || md["clusterlab_version"] == "" {
		t.Errorf("IR %d, opset %d, version %q", m.GetIrVersion(), onnxmodel.Opset(m, ""), md["clusterlab_version"])
	}

	// Pixels to clusters: the grey images as RGB.
	full := filepath.Join(tr.dir, "full.onnx")
	if r := clusterlabWith(t, exportTargets, tr.dir, "export", tr.runDir, "--onnx", full, "--with-backbone"); r.code != 0 {
		t.Fatalf("export --with-backbone: %d %s", r.code, r.stderr)
	}
	for _, split := range []string{"train", "test"} {
		grey := tr.pixels[split]
		n := len(grey) / (tr.size * tr.size)
		rgb := make([]uint8, 3*len(grey))
		for i, v := range grey {
			rgb[3*i], rgb[3*i+1], rgb[3*i+2] = v, v, v
		}
		ortReady(t)
		in, err := ort.NewTensor(ort.NewShape(int64(n), int64(tr.size), int64(tr.size), 3), rgb)
		if err != nil {
			t.Fatal(err)
		}
		gotP, gotC := runONNX(t, full, exportPixels, in)
		in.Destroy()
		wantC, wantP, _ := stored(t, tr.runDir, split, best)
		compare(t, "pixels of "+split, gotC, gotP, wantC, wantP)
	}

	// Refusals, each exit 2 with its reason.
	refuse := func(what, want string, args ...string) {
		t.Helper()
		r := clusterlabWith(t, exportTargets, tr.dir, args...)
		if r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 saying %q", what, r.code, r.stderr, want)
		}
	}
	out := filepath.Join(tr.dir, "x.onnx")
	refuse("unknown head", "head 5: the run trained heads 0 to 1", "export", tr.runDir, "--onnx", out, "--head", "5")
	refuse("no --onnx", "export needs --onnx FILE", "export", tr.runDir)
	refuse("a run file", "among the run's own files", "export", tr.runDir, "--onnx", filepath.Join(tr.runDir, "metrics.json"))

	copyRun := func(name string, spoil func(dir string)) string {
		dst := filepath.Join(tr.dir, "runs", "dino", name)
		if err := os.CopyFS(dst, os.DirFS(tr.runDir)); err != nil {
			t.Fatal(err)
		}
		spoil(dst)
		return dst
	}
	unfinished := copyRun("unfinished", func(d string) {
		rec, _ := rundir.ReadRecord(d)
		rec.Status = rundir.StatusInterrupted
		rundir.WriteRecord(d, rec)
	})
	refuse("unfinished run", "has status interrupted, not finished", "export", unfinished, "--onnx", out)
	noCkpt := copyRun("nockpt", func(d string) { os.Remove(filepath.Join(d, rundir.CheckpointFile)) })
	refuse("run without checkpoint", "trained without clusterlab's shared trainer", "export", noCkpt, "--onnx", out)
	// The model file changed since the run: its sha256 no longer matches.
	b, _ := os.ReadFile(filepath.Join(tr.dir, "model.onnx"))
	os.WriteFile(filepath.Join(tr.dir, "model.onnx"), append(b, 0), 0o644)
	refuse("changed model", "the file changed since the run", "export", tr.runDir, "--onnx", out, "--with-backbone")
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a refused export wrote %s", out)
	}
}

// precomputedConfig trains one-layer heads without input normalisation on
// features given as .npy files.
const precomputedConfig = `
experiment: pre
seed: 2
dataset: {plugin: idx, name: idx, root: images}
backbone: {plugin: precomputed, dir: feats}
neighbours: {k: 5}
baselines: {kmeans: false, knn_classifier: false}
clusters: 5
loss:
  plugin: temi
  heads: 3
  nlayers: %d
  epochs: 2
  warmup_epochs: 1
  warmup_teacher_temp_epochs: 1
  batch_size: 16
  knn: 5
  hidden_dim: 24
  bottleneck_dim: 12
  embed_norm: %v
  l2_norm: false
`

// TestExportHeadShapes exports the heads of runs of other shapes (one
// layer, three layers; with and without embed_norm) and compares them on
// ONNX Runtime with what the trainer assigned; assign on the same features
// must agree too.
func TestExportHeadShapes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		layers    int
		embedNorm bool
	}{{1, false}, {3, true}} {
		dir := t.TempDir()
		idxImages(t, filepath.Join(dir, "images"), 40, 12, 4)
		os.MkdirAll(filepath.Join(dir, "feats"), 0o755)
		rng := rand.New(rand.NewPCG(uint64(c.layers), 1))
		for split, n := range map[string]int{"train": 40, "test": 12} {
			x := make([]float32, n*7)
			for i := range x {
				x[i] = float32(rng.NormFloat64() + float64(i%7))
			}
			npy.WriteFloat32(filepath.Join(dir, "feats", split+".npy"), x, n, 7)
		}
		os.WriteFile(filepath.Join(dir, "pre.yaml"), []byte(fmt.Sprintf(precomputedConfig, c.layers, c.embedNorm)), 0o644)
		r := clusterlabWith(t, exportTargets, dir, "run", "pre.yaml")
		if r.code != 0 {
			t.Fatalf("run: %d %s", r.code, r.stderr)
		}
		runDir := runDirOf(t, dir, r)
		best := bestHead(t, runDir)
		file := filepath.Join(dir, "head.onnx")
		if r := clusterlabWith(t, exportTargets, dir, "export", runDir, "--onnx", file); r.code != 0 {
			t.Fatalf("export: %d %s", r.code, r.stderr)
		}
		for _, split := range []string{"train", "test"} {
			wantC, wantP, _ := stored(t, runDir, split, best)
			gotP, gotC := runONNXEmbeddings(t, file, embeddingsOf(t, runDir, split))
			compare(t, fmt.Sprintf("%d layers, embed_norm %v, %s", c.layers, c.embedNorm, split), gotC, gotP, wantC, wantP)

			r := clusterlabWith(t, exportTargets, dir, "assign", runDir, filepath.Join(dir, "feats", split+".npy"))
			if r.code != 0 {
				t.Fatalf("assign: %d %s", r.code, r.stderr)
			}
			ac, ap := readAssigned(t, filepath.Join(runDir, rundir.AssignedDir, split))
			compare(t, "assign "+split, ac, ap, wantC, wantP)
		}
		if r := clusterlabWith(t, exportTargets, dir, "export", runDir, "--onnx", file, "--with-backbone"); r.code != 2 || !strings.Contains(r.stderr, "--with-backbone needs backbone dinov2") {
			t.Errorf("--with-backbone on a precomputed run: %d %s", r.code, r.stderr)
		}
	}
}

// readAssigned reads clusters.npy and probs.npy of an assignment folder
// (or of a split's folder in it) and checks its assign.json is there.
func readAssigned(t *testing.T, dir string) ([]int64, []float32) {
	t.Helper()
	c, _, err := npy.ReadInt32(filepath.Join(dir, rundir.AssignClustersFile))
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := npy.ReadFloat32(filepath.Join(dir, rundir.AssignProbsFile))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, len(c))
	for i, v := range c {
		out[i] = int64(v)
	}
	var rec rundir.AssignRecord
	b, err := os.ReadFile(filepath.Join(dir, rundir.AssignRecordFile))
	if os.IsNotExist(err) {
		b, err = os.ReadFile(filepath.Join(filepath.Dir(dir), rundir.AssignRecordFile))
	}
	if err != nil || json.Unmarshal(b, &rec) != nil || rec.Format != rundir.AssignFormat || len(rec.Splits) == 0 {
		t.Fatalf("%s: assign.json %v %s", dir, err, b)
	}
	return out, p
}
