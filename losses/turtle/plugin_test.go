package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/internal/testbin"
	"github.com/clusterlab/clusterlab/losses/losstest"
	"github.com/clusterlab/clusterlab/plugins"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// TestPluginBinary runs the real plugin executable (built as `make build`
// builds it, with this test binary's tags) through the runner's client:
// Describe, an option error naming its key across the wire, and a fit on
// the blobs whose files equal those of the in-process Fit.
func TestPluginBinary(t *testing.T) {
	exe := testbin.Path(t, testbin.Plugin("losses/turtle"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := plugins.Launch(ctx, core.KindLoss, exe, plugins.WithEnv(testbin.OrtEnv()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Kill)
	loss := c.Loss()

	d, err := loss.Describe(ctx, core.Options{OptGamma: 5})
	if err != nil {
		t.Fatal(err)
	}
	local, _ := New().Describe(ctx, core.Options{OptGamma: 5})
	if d.Name != "turtle" || d.Kind != core.KindLoss || d.Identity != local.Identity || len(d.Options) != len(Options()) {
		t.Errorf("Describe over the wire: %+v; want the in-process description %+v", d, local)
	}
	_, err = loss.Describe(ctx, core.Options{OptIterations: 0})
	plugintest.CheckOptionError(t, "Describe(iterations 0) over the wire", err, OptIterations)

	dir := t.TempDir()
	req, _ := blobProblem(t, dir, 120, 30, core.Options{OptIterations: 12})
	backendName := "go"
	if losstest.OnnxTag {
		backendName = "onnx"
	}
	req.Backend = backendName
	var iterations int
	res, err := loss.Fit(ctx, req, func(p core.Progress) {
		if p.Message == "" {
			iterations = p.Epoch
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if iterations != 12 || res.BestHead != 0 || len(res.HeadLosses) != 1 || len(res.Assignments) != 2 || len(res.Probabilities) != 2 {
		t.Errorf("fit over the wire: last iteration %d, result %+v", iterations, res)
	}
	req.OutDir = filepath.Join(dir, "local")
	want, err := New().Fit(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameFiles(t, "plugin process vs in-process", runFiles(t, want), runFiles(t, res))

	// Bad input in the request is invalid input across the wire too.
	bad := req
	bad.OutDir, bad.Clusters = filepath.Join(dir, "bad"), 1
	_, err = loss.Fit(ctx, bad, nil)
	if err == nil || !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), "at least 2") {
		t.Errorf("fit with one cluster over the wire: %v; want invalid input", err)
	}
}
