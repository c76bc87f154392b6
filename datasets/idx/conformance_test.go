package main

import (
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// TestConformance runs the dataset plugin suite on a small idx folder and
// on the MNIST files of the GoMNIST module (the first 500 images).
func TestConformance(t *testing.T) {
	dir := t.TempDir()
	smallSet{trainN: 10, testN: 7, h: 4, w: 3, classes: 3}.write(t, dir, plain)
	plugintest.Dataset(t, Dataset{}, plugintest.DatasetCase{
		Options: core.Options{"name": "idx", "root": dir},
		Bad: []plugintest.BadOption{
			{Options: core.Options{"name": "idx", "root": t.TempDir()}, Key: "root"}, // no files there
		},
	})
}
