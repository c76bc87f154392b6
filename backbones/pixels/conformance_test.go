package main

import (
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// TestConformance runs the backbone plugin suite on raw pixels, on a
// fitted, whitened PCA, and on resized and cropped images.
func TestConformance(t *testing.T) {
	for _, opts := range []core.Options{
		{},
		{"pca_dims": 8, "standardize": true},
		{"pca_dims": 6, "whiten": true, "pca_fit_samples": 30},
		{"resize": 4, "center_crop": 4},
		{"resize": 7, "interpolation": "nearest", "pca_dims": 5},
	} {
		t.Run(opts.Canonical(), func(t *testing.T) {
			plugintest.Backbone(t, Backbone{}, plugintest.BackboneCase{
				Options: opts, Height: 6, Width: 5, Channels: 3, Train: 40,
				// One image at a time or sixteen: the same arithmetic.
				Tolerance: 0,
				Bad: []plugintest.BadOption{
					{Options: core.Options{"whiten": true}, Key: "whiten"},                    // needs a PCA
					{Options: core.Options{"pca_fit_samples": 10}, Key: "pca_fit_samples"},    // needs a PCA
					{Options: core.Options{"interpolation": "bicubic"}, Key: "interpolation"}, // needs a resize
				},
			})
		})
	}
}
