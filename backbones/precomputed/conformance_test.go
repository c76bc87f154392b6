package main

import (
	"path/filepath"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// TestConformance runs the backbone plugin suite on a features folder.
func TestConformance(t *testing.T) {
	dir := t.TempDir()
	const n, d = 40, 5
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(i%17) / 7
	}
	if err := npy.WriteFloat32(filepath.Join(dir, "train.npy"), x, n, d); err != nil {
		t.Fatal(err)
	}
	plugintest.Backbone(t, Backbone{}, plugintest.BackboneCase{
		Options: core.Options{"dir": dir}, Height: 2, Width: 2, Channels: 1, Train: n,
		IgnoresPixels: true,
		Bad: []plugintest.BadOption{
			{Options: core.Options{}, Key: "dir"},                                       // neither dir nor files
			{Options: core.Options{"dir": t.TempDir()}, Key: "dir"},                     // no .npy there
			{Options: core.Options{"train": filepath.Join(dir, "x.npy")}, Key: "train"}, // missing file
		},
	})
}
