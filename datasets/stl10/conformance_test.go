package main

import (
	"path/filepath"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// TestConformance runs the dataset plugin suite on the small fixture,
// unpacked and packed, with the unlabeled split offered and with a fold.
func TestConformance(t *testing.T) {
	ms := smallFixture().members()
	dir := t.TempDir()
	roots := map[string]string{
		"folder":  writeFolder(t, filepath.Join(dir, folderName), ms),
		"archive": writeArchive(t, filepath.Join(dir, "packed"), ms),
	}
	for name, root := range roots {
		for _, extra := range []core.Options{{}, {"unlabeled": true, "fold": 7}} {
			opts := core.Options{"root": root}
			for k, v := range extra {
				opts[k] = v
			}
			t.Run(name+" "+opts.Canonical(), func(t *testing.T) {
				plugintest.Dataset(t, Dataset{}, plugintest.DatasetCase{
					Options: opts,
					Bad: []plugintest.BadOption{
						{Options: core.Options{"root": t.TempDir()}, Key: "root"}, // no STL-10 there
					},
				})
			})
		}
	}
}
