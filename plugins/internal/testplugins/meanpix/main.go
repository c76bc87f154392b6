// Command clusterlab-backbone-meanpix is a test backbone plugin: its
// embedding of an image is the mean of each channel, centred by the means
// fitted on the train split, and the image's index (see synthdata.Embed).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins"
	"github.com/clusterlab/clusterlab/plugins/internal/testplugins/synthdata"
)

func main() { plugins.ServeBackbone(meanpix{}) }

type meanpix struct{}

var schema = []core.Option{
	{Name: "repeat", Type: core.TypeInt, Default: 1, Help: "times the embedding is repeated (makes it large)", Min: core.Bound(1)},
}

const stateFile = "meanpix.json"

type state struct {
	Center []float64 `json:"center"`
	Images int       `json:"images"`
	// Batches and MaxBatchBytes describe how the images arrived, for the
	// tests of batch splitting.
	Batches       int `json:"batches"`
	MaxBatchBytes int `json:"max_batch_bytes"`
}

func (meanpix) Describe(_ context.Context, opts core.Options) (core.BackboneInfo, error) {
	info := core.BackboneInfo{NeedsFit: true, Description: core.Description{
		Kind: core.KindBackbone, Name: "meanpix", Version: "0.2.0",
		Summary: "mean pixel per channel, for tests", Options: schema,
	}}
	if opts == nil {
		return info, nil
	}
	o, err := core.ResolveOptions(schema, opts)
	if err != nil {
		return core.BackboneInfo{}, err
	}
	info.Identity = "meanpix/v1 " + o.Canonical()
	return info, nil
}

// next returns the next batch and checks that offsets are consecutive
// and that the images have the dataset's geometry.
func next(in core.BatchReader, want *int, ds core.DatasetInfo) (core.ImageBatch, error) {
	b, err := in.Next()
	if err != nil {
		return b, err
	}
	if b.Offset != *want {
		return b, fmt.Errorf("batch at offset %d, want %d", b.Offset, *want)
	}
	if b.Height != ds.Height || b.Width != ds.Width || b.Channels != ds.Channels {
		return b, fmt.Errorf("%w: images of %dx%dx%d, the dataset's are %dx%dx%d", core.ErrInvalidInput, b.Height, b.Width, b.Channels, ds.Height, ds.Width, ds.Channels)
	}
	*want += b.Count
	return b, nil
}

func (meanpix) Fit(ctx context.Context, req core.EmbedRequest, in core.BatchReader) error {
	sums := make([]int64, req.Dataset.Channels)
	want := 0
	pixelsPerChannel := 0
	var st state
	for {
		b, err := next(in, &want, req.Dataset)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		synthdata.ChannelSums(b, sums)
		pixelsPerChannel += b.Count * b.Height * b.Width
		st.Batches++
		st.MaxBatchBytes = max(st.MaxBatchBytes, len(b.Pixels))
	}
	if want == 0 {
		return fmt.Errorf("%w: no images to fit on", core.ErrInvalidInput)
	}
	st.Images = want
	for _, s := range sums {
		st.Center = append(st.Center, float64(s)/float64(pixelsPerChannel))
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(req.StateDir, stateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	fmt.Fprintf(os.Stderr, "meanpix: fitted on %d images\n", want)
	return os.Rename(tmp, filepath.Join(req.StateDir, stateFile))
}

func (m meanpix) Embed(ctx context.Context, req core.EmbedRequest, in core.BatchReader, send func(core.EmbeddingBatch) error) error {
	o, err := core.ResolveOptions(schema, req.Options)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(req.StateDir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s has no fitted state; run Fit first", core.ErrInvalidInput, req.StateDir)
	}
	if err != nil {
		return err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	// Read ahead in a goroutine, as a real backbone overlapping decoding
	// and inference would.
	type item struct {
		b   core.ImageBatch
		err error
	}
	batches := make(chan item, 2)
	go func() {
		defer close(batches)
		want := 0
		for {
			b, err := next(in, &want, req.Dataset)
			if err == io.EOF {
				return
			}
			select {
			case batches <- item{b, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	repeat := o.Int("repeat")
	for it := range batches {
		if it.err != nil {
			return it.err
		}
		b := it.b
		e := core.EmbeddingBatch{Offset: b.Offset, Count: b.Count, Dim: synthdata.Dim(b.Channels, repeat),
			Values: synthdata.Embed(b, st.Center, repeat)}
		if err := send(e); err != nil {
			return err
		}
	}
	return ctx.Err()
}
