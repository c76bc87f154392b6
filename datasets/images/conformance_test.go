package main

import (
	"path/filepath"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

const layoutsDir = "testdata/layouts"

// TestConformance runs the dataset plugin suite on every layout, and on a
// folder of images of several sizes.
func TestConformance(t *testing.T) {
	cases := []struct {
		name       string
		opts       core.Options
		unlabelled bool
	}{
		{"folders", core.Options{"root": filepath.Join(layoutsDir, "classes")}, false},
		{"flat", core.Options{"root": filepath.Join(layoutsDir, "flat")}, true},
		{"splits", core.Options{"root": filepath.Join(layoutsDir, "splits")}, false},
		{"subset", core.Options{"root": filepath.Join(layoutsDir, "subset"), "classes": filepath.Join(layoutsDir, "subset_classes.txt")}, false},
		{"list names", core.Options{"root": filepath.Join(layoutsDir, "list_names.csv")}, false},
		{"list ints", core.Options{"root": filepath.Join(layoutsDir, "list_ints.tsv")}, false},
		{"list splits", core.Options{"root": filepath.Join(layoutsDir, "list_splits.csv")}, false},
		{"list unlabelled", core.Options{"root": filepath.Join(layoutsDir, "list_nolabel.csv")}, true},
		{"sizes", core.Options{"root": filepath.Join(layoutsDir, "sizes")}, false},
		{"skip", core.Options{"root": filepath.Join(layoutsDir, "splits"), "on_error": "skip", "fingerprint": "sha256", "limit_train": 3}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plugintest.Dataset(t, Dataset{}, plugintest.DatasetCase{
				Options:    c.opts,
				Unlabelled: c.unlabelled,
				Bad: []plugintest.BadOption{
					{Options: core.Options{"root": t.TempDir()}, Key: "root"}, // an empty folder
					{Options: core.Options{"root": filepath.Join(layoutsDir, "no-such-folder")}, Key: "root"},
					{Options: core.Options{"root": filepath.Join(layoutsDir, "classes"), "extensions": " , "}, Key: "extensions"},
				},
			})
		})
	}
}
