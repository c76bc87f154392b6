// Command clusterlab-dataset-synth is a test dataset plugin serving
// deterministic synthetic images (see synthdata).
package main

import (
	"context"
	"fmt"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins"
	"github.com/clusterlab/clusterlab/plugins/internal/testplugins/synthdata"
)

func main() { plugins.ServeDataset(synth{}) }

type synth struct{}

var schema = []core.Option{
	{Name: "count", Type: core.TypeInt, Default: 100, Help: "images in the train split", Min: core.Bound(1), Max: core.Bound(1e6)},
	{Name: "height", Type: core.TypeInt, Default: 8, Help: "image height", Min: core.Bound(1)},
	{Name: "width", Type: core.TypeInt, Default: 8, Help: "image width", Min: core.Bound(1)},
	{Name: "channels", Type: core.TypeInt, Default: 3, Help: "channels", Min: core.Bound(1), Max: core.Bound(4)},
	{Name: "classes", Type: core.TypeInt, Default: 10, Help: "classes", Min: core.Bound(1)},
	{Name: "jitter", Type: core.TypeFloat, Default: 0.5, Help: "unused float", Min: core.Bound(0), Max: core.Bound(1)},
	{Name: "flavour", Type: core.TypeString, Default: "plain", Help: "unused choice", Choices: []string{"plain", "fancy"}},
	{Name: "shuffle", Type: core.TypeBool, Default: false, Help: "unused bool"},
	{Name: "tag", Type: core.TypeString, Help: "unused optional string", Optional: true},
}

func (synth) Describe(_ context.Context, opts core.Options) (core.DatasetInfo, error) {
	info := core.DatasetInfo{Description: core.Description{
		Kind: core.KindDataset, Name: "synth", Version: "0.1.0",
		Summary: "synthetic images for tests", Options: schema,
	}}
	if opts == nil {
		return info, nil
	}
	o, err := core.ResolveOptions(schema, opts)
	if err != nil {
		return core.DatasetInfo{}, err
	}
	n := o.Int("count")
	info.Splits = []core.SplitInfo{{Name: core.SplitTrain, Count: n}, {Name: core.SplitTest, Count: max(1, n/4)}}
	for c := 0; c < o.Int("classes"); c++ {
		info.Classes = append(info.Classes, fmt.Sprintf("class%d", c))
	}
	info.Height, info.Width, info.Channels = o.Int("height"), o.Int("width"), o.Int("channels")
	info.Identity = "synth/v1 " + o.Canonical()
	return info, nil
}

func (s synth) Read(ctx context.Context, req core.ReadRequest, send func(core.ImageBatch) error) error {
	info, err := s.Describe(ctx, req.Options)
	if err != nil {
		return err
	}
	split, ok := info.Split(req.Split)
	if !ok {
		return fmt.Errorf("%w: unknown split %q; synth has train and test", core.ErrInvalidInput, req.Split)
	}
	for off := 0; off < split.Count; off += req.BatchSize {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(req.BatchSize, split.Count-off)
		b := synthdata.Batch(split.Name, off, n, info.Height, info.Width, info.Channels, len(info.Classes))
		if err := send(b); err != nil {
			return err
		}
	}
	return nil
}
