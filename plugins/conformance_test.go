package plugins

import (
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// TestConformanceOverTheWire runs the dataset and backbone suites on test
// plugins through real plugin processes: what the suites check holds on
// the runner's side of the protocol too (option errors keep their key,
// batches their order, failures their kind).
func TestConformanceOverTheWire(t *testing.T) {
	ds := launch(t, core.KindDataset, "clusterlab-dataset-synth")
	plugintest.Dataset(t, ds.Dataset(), plugintest.DatasetCase{
		Options: core.Options{"count": 50, "height": 5, "width": 4, "channels": 3, "classes": 4},
	})
	bb := launch(t, core.KindBackbone, "clusterlab-backbone-meanpix")
	plugintest.Backbone(t, bb.Backbone(), plugintest.BackboneCase{
		Options: core.Options{"repeat": 2}, Height: 5, Width: 4, Channels: 3, Train: 30,
	})
}
