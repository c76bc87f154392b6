package main

import (
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// TestConformance runs the backbone plugin suite on raw pixels and on a
// fitted, whitened PCA.
func TestConformance(t *testing.T) {
	for _, opts := range []core.Options{
		{},
		{"pca_dims": 8, "standardize": true},
		{"pca_dims": 6, "whiten": true, "pca_fit_samples": 30},
	} {
		t.Run(opts.Canonical(), func(t *testing.T) {
			plugintest.Backbone(t, Backbone{}, plugintest.BackboneCase{
				Options: opts, Height: 6, Width: 5, Channels: 3, Train: 40,
				// One image at a time or sixteen: the same arithmetic.
				Tolerance: 0,
				Bad: []plugintest.BadOption{
					{Options: core.Options{"whiten": true}, Key: "whiten"},                 // needs a PCA
					{Options: core.Options{"pca_fit_samples": 10}, Key: "pca_fit_samples"}, // needs a PCA
				},
			})
		})
	}
}
