package main

import (
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// TestConformance runs the backbone plugin suite on the tiny DINOv2
// fixture models, with and without registers.
func TestConformance(t *testing.T) {
	for _, model := range []string{"dinov2_tiny.onnx", "dinov2_tiny_reg4.onnx"} {
		t.Run(model, func(t *testing.T) {
			opts := core.Options{optModel: testdataPath(t, model), optBatchSize: 4}
			if model == "dinov2_tiny_reg4.onnx" {
				opts[optRegisters] = 4
			}
			plugintest.Backbone(t, Backbone{}, plugintest.BackboneCase{
				Options: opts, Height: 12, Width: 12, Channels: 3, Train: 9,
				// ONNX Runtime's batched kernels differ in the last bits
				// from batch to batch.
				Tolerance: 1e-5,
				Bad: []plugintest.BadOption{
					{Options: core.Options{optModel: testdataPath(t, "not_a_vit.onnx")}, Key: optModel},
					{Options: core.Options{optModel: testdataPath(t, "no-such-model.onnx")}, Key: optModel},
				},
			})
		})
	}
}
