package examples

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/internal/testbin"
	"github.com/clusterlab/clusterlab/plugins"
)

// lossConfig trains the example IIC loss for two epochs on PCA features of
// 2000 MNIST train images (500 test).
const lossConfig = `
experiment: iic
seed: 1
runs_dir: runs
cache_dir: cache
dataset: {plugin: idx, name: mnist, limit_train: 2000, limit_test: 500}
backbone: {plugin: pixels, pca_dims: 32}
neighbours: {k: 10}
baselines: {kmeans_n_init: 2}
loss:
  plugin: iic
  heads: 2
  epochs: 2
  batch_size: 128
  lr: 0.001
  min_lr: 0.0001
  warmup_epochs: 0
  hidden_dim: 64
  bottleneck_dim: 32
  iic: {lambda: 1.0}
`

// TestGoLossModule is the example of a loss written outside this module
// (examples/loss-go, a Go module of its own that requires clusterlab):
// its own tests (the loss conformance suite) pass, and the plugin it
// builds runs end to end through the real runner.
func TestGoLossModule(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	mod := filepath.Join(root, "examples", "loss-go")
	tmp := t.TempDir()
	goCmd := func(args ...string) *exec.Cmd {
		// The build flags of this test binary (make test: -tags onnx).
		args = append(args[:1:1], append(testbin.Flags(), args[1:]...)...)
		cmd := exec.Command("go", args...)
		cmd.Dir = mod
		return cmd
	}
	t.Run("its tests", func(t *testing.T) {
		if out, err := goCmd("test", "-count=1", "./...").CombinedOutput(); err != nil {
			t.Fatalf("go test in examples/loss-go: %v\n%s", err, out)
		}
	})
	pluginDir := filepath.Join(tmp, "outside")
	if out, err := goCmd("build", "-o", filepath.Join(pluginDir, "clusterlab-loss-iic"), ".").CombinedOutput(); err != nil {
		t.Fatalf("build the example loss plugin: %v\n%s", err, out)
	}
	bin := buildBinaries(t)
	work := filepath.Join(tmp, "work")
	os.MkdirAll(work, 0o755)
	os.WriteFile(filepath.Join(work, "iic.yaml"), []byte(lossConfig), 0o644)
	cmd := exec.Command(filepath.Join(bin, "clusterlab"), "run", "iic.yaml")
	cmd.Dir = work
	cmd.Env = append(append(os.Environ(), plugins.PathEnv+"="+pluginDir), testbin.OrtEnv()...)
	r := run(t, cmd)
	if r.code != 0 {
		t.Fatalf("clusterlab run with the outside loss (%d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	runDir := testbin.RunDir(work, r.stdout)
	if runDir == "" {
		t.Fatalf("no run directory:\n%s", r.stdout)
	}
	mf, err := rundir.ReadMetrics(runDir)
	if err != nil {
		t.Fatal(err)
	}
	if mf.Loss != "iic" || len(mf.HeadLosses) != 2 {
		t.Fatalf("metrics of the run: loss %q, head losses %v", mf.Loss, mf.HeadLosses)
	}
	for _, res := range mf.Results {
		if res.Method == "iic" && res.Selection == "best-head" && res.Split == "test" {
			t.Logf("IIC test ACC %.3f NMI %.3f, %d clusters used", res.ACC, res.NMI, res.ClustersUsed)
			if res.ACC < 0.2 || res.ClustersUsed < 5 {
				t.Errorf("IIC learned nothing: test ACC %.3f with %d clusters used", res.ACC, res.ClustersUsed)
			}
		}
	}
}
