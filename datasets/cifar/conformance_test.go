package main

import (
	"path/filepath"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// TestConformance runs the dataset plugin suite on the CIFAR-100 fixture
// (python version, packed), as CIFAR-100 and as CIFAR-20.
func TestConformance(t *testing.T) {
	for _, name := range []string{nameCIFAR100, nameCIFAR20} {
		t.Run(name, func(t *testing.T) {
			plugintest.Dataset(t, Dataset{}, plugintest.DatasetCase{
				Options: core.Options{"name": name, "root": filepath.Join(testdataDir, archiveC100Python)},
				Bad: []plugintest.BadOption{
					{Options: core.Options{"name": name, "root": t.TempDir()}, Key: "root"}, // no CIFAR there
				},
			})
		})
	}
}
