package main

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/internal/testbin"
	"github.com/clusterlab/clusterlab/plugins"
)

// TestMain kills the plugins the tests left running and removes the built
// plugin.
func TestMain(m *testing.M) { os.Exit(testbin.Main(m, plugins.KillAll)) }

// buildPlugin builds this package as clusterlab-backbone-dinov2, once.
func buildPlugin(tb testing.TB) string {
	tb.Helper()
	return testbin.Path(tb, testbin.Plugin("backbones/dinov2"))
}

func launch(tb testing.TB, opts ...plugins.LaunchOption) *plugins.Client {
	tb.Helper()
	path := buildPlugin(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := plugins.Launch(ctx, core.KindBackbone, path, opts...)
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
// boundary. The plugin's temporary folder is empty afterwards: ONNX
// Runtime's telemetry, which the environment switches on here, left no
// mat-debug-<pid>.log (see backend.PrepareOrt).
func TestThroughPluginProcess(t *testing.T) {
	tmp := t.TempDir()
	c := launch(t, plugins.WithEnv("TMPDIR="+tmp, backend.OrtTelemetryEnv+"=0"))
	t.Cleanup(func() {
		c.Kill()
		entries, _ := os.ReadDir(tmp)
		for _, e := range entries {
			t.Errorf("the plugin process (pid %d) left %s in its TMPDIR", c.Pid(), e.Name())
		}
	})
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
