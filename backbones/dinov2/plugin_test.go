package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins"
)

// built is the plugin executable, built once by buildPlugin.
var built struct {
	once      sync.Once
	dir, path string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	plugins.KillAll()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildPlugin builds this package as clusterlab-backbone-dinov2 in a
// temporary directory.
func buildPlugin(tb testing.TB) string {
	tb.Helper()
	built.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			built.err = err
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "clusterlab-dinov2-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, plugins.FileName(core.KindBackbone, "dinov2"))
		cmd := exec.Command(goTool, "build", "-o", built.path, ".")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		built.err = cmd.Run()
	})
	if built.err != nil {
		tb.Fatalf("build the plugin: %v", built.err)
	}
	return built.path
}

func launch(tb testing.TB) *plugins.Client {
	tb.Helper()
	path := buildPlugin(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := plugins.Launch(ctx, core.KindBackbone, path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Kill)
	return c
}

// TestThroughPluginProcess runs the built plugin as the runner does and
// checks the register model's cls+patch-mean embeddings against the
// reference, the identity against the in-process one, and that a model
// that does not fit is reported as invalid input across the process
// boundary.
func TestThroughPluginProcess(t *testing.T) {
	c := launch(t)
	if d := c.Description(); d.Name != "dinov2" || d.Version != Version || len(d.Options) != len(schema()) {
		t.Fatalf("description %+v", d)
	}
	ctx := context.Background()
	fx := loadFixtures(t)
	var cs fixtureCase
	for _, x := range fx.Cases {
		if x.Name == "dinov2_tiny_reg4/rgb32/cls+patch-mean" {
			cs = x
		}
	}
	if cs.Name == "" {
		t.Fatal("fixtures.json lacks the case dinov2_tiny_reg4/rgb32/cls+patch-mean")
	}
	opts := caseOptions(t, cs, core.Options{optBatchSize: 3})
	remote, err := c.Backbone().Describe(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	local, err := Backbone{}.Describe(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if remote.Identity != local.Identity || remote.NeedsFit {
		t.Errorf("plugin identity %q (needs fit %v), in process %q", remote.Identity, remote.NeedsFit, local.Identity)
	}
	im := readImages(t, cs.Images)
	ref, n, refDim := readRef(t, cs.Reference)
	got, dim, err := embedAll(ctx, c.Backbone(), opts, im.reader(3, 5))
	if err != nil {
		t.Fatal(err)
	}
	minCos, _ := compare(t, got, dim, ref, n, refDim, fx.Threshold)
	t.Logf("through the plugin process: min cosine %.9f over %d images", minCos, n)

	_, err = c.Backbone().Describe(ctx, core.Options{optModel: testdataPath(t, "not_a_vit.onnx")})
	if !plugins.IsInvalidInput(err) || !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("not_a_vit.onnx through the plugin: %v; want an invalid-input error", err)
	}
}
