package main

import (
	"fmt"

	"github.com/clusterlab/clusterlab/backbones/internal/imageprep"
	"github.com/clusterlab/clusterlab/core"
)

// geometry is the shape of every image of one input batch.
type geometry struct{ h, w, c int }

func (g geometry) String() string { return fmt.Sprintf("%dx%dx%d (HxWxC)", g.h, g.w, g.c) }

func geometryOf(b core.ImageBatch) geometry { return geometry{b.Height, b.Width, b.Channels} }

// maxPlans bounds the plans a stream keeps: a folder of photos can have a
// size per image. Dropping them all when the bound is reached costs only
// their recomputation (the resize kernels stay cached in imageprep); plans
// still referenced by batches in flight live on until those are done.
const maxPlans = 64

// stream is what Embed knows of one stream of images: the dataset's
// geometry (when it gave one), a preprocessing plan per input size, and
// the model input size that the first images fixed. Batches may change
// size from one to the next (a dataset of photos of different sizes), but
// the ONNX session has one input size: every image must preprocess to it.
// A stream is used by one goroutine at a time (Embed, then the reader).
type stream struct {
	p      params
	ds     core.DatasetInfo
	plans  map[geometry]*imageprep.Plan
	first  geometry // size of the first images, which fixed oh x ow
	oh, ow int      // the model input size; 0 until the first images
}

func newStream(p params, ds core.DatasetInfo) *stream {
	return &stream{p: p, ds: ds, plans: map[geometry]*imageprep.Plan{}}
}

// check verifies that a batch holds what it says, and images of the size
// (or at least the channels) its dataset announced.
func (st *stream) check(b core.ImageBatch) error {
	g := geometryOf(b)
	if b.Count < 0 || b.Height < 0 || b.Width < 0 || b.Channels < 0 || len(b.Pixels) != b.Count*g.h*g.w*g.c {
		return fmt.Errorf("dinov2: %w", invalid("batch at offset %d: %d pixel values for %d images of %v (want %d)", b.Offset, len(b.Pixels), b.Count, g, b.Count*g.h*g.w*g.c))
	}
	if b.Count == 0 {
		return nil
	}
	if st.ds.FixedSize() {
		if want := (geometry{st.ds.Height, st.ds.Width, st.ds.Channels}); g != want {
			return fmt.Errorf("dinov2: %w", invalid("batch at offset %d has images of %v, but dataset %s said its images are %v", b.Offset, g, st.ds.Name, want))
		}
	} else if st.ds.Channels > 0 && g.c != st.ds.Channels {
		return fmt.Errorf("dinov2: %w", invalid("batch at offset %d has images of %v, but dataset %s said its images have %d channels", b.Offset, g, st.ds.Name, st.ds.Channels))
	}
	return nil
}

// plan returns the preprocessing plan of a checked batch of at least one
// image. The first call fixes the model input size; a later batch whose
// images preprocess to another size is refused, naming both sizes and what
// to set.
func (st *stream) plan(b core.ImageBatch) (*imageprep.Plan, error) {
	g := geometryOf(b)
	pl, ok := st.plans[g]
	if !ok {
		var err error
		pl, err = st.p.pre.Plan(g.h, g.w, g.c)
		if err != nil {
			return nil, fmt.Errorf("dinov2: %w: images of %v (batch at offset %d): %w", core.ErrInvalidInput, g, b.Offset, err)
		}
		if len(st.plans) >= maxPlans {
			clear(st.plans)
		}
		st.plans[g] = pl
	}
	oh, ow := pl.OutputSize()
	if st.oh == 0 {
		st.first, st.oh, st.ow = g, oh, ow
		return pl, nil
	}
	if oh != st.oh || ow != st.ow {
		return nil, core.OptionFault(optCenterCrop, fmt.Errorf("dinov2: %w", invalid(
			"images of %v (batch at offset %d) preprocess to %dx%d with resize %d and center_crop %d, but the stream's first images, of %v, to %dx%d; "+
				"the model runs on one input size, so images of different shapes need a crop: set center_crop (e.g. resize: 256 and center_crop: 224, as DINOv2's evaluation does)",
			g, b.Offset, oh, ow, st.p.pre.Resize, st.p.pre.CenterCrop, st.first, st.oh, st.ow)))
	}
	return pl, nil
}
