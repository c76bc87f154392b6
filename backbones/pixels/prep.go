package main

import (
	"context"
	"fmt"

	"github.com/clusterlab/clusterlab/backbones/internal/imageprep"
	"github.com/clusterlab/clusterlab/core"
)

// maxPlans bounds the resize plans a stream keeps (a folder of photos may
// have a size per image); dropping them only costs their recomputation.
const maxPlans = 64

// fromState is what fixed the geometry when a fitted state did.
const fromState = "the fitted state"

// prep turns the image batches of one stream into what the embedding
// flattens: the images as they are, or resized and centre-cropped (options
// resize, interpolation, center_crop), and checks that they all have one
// geometry: the one the dataset, the fitted state or the first images
// fixed.
type prep struct {
	p     params
	ds    core.DatasetInfo
	plans map[geometry]*imageprep.BytePlan
	want  geometry // geometry of every prepared image; zero until known
	from  string   // what fixed want, for errors
}

// newPrep starts a stream of dataset ds. It fails at once, before any image
// is read, when the options cannot give the images of ds one geometry, or
// give them fewer values than pca_dims.
func newPrep(p params, ds core.DatasetInfo) (*prep, error) {
	pr := &prep{p: p, ds: ds, plans: map[geometry]*imageprep.BytePlan{}}
	switch {
	case ds.FixedSize():
		in := geometry{ds.Height, ds.Width, ds.Channels}
		out, err := pr.outputOf(in)
		if err != nil {
			return nil, err
		}
		pr.want, pr.from = out, fmt.Sprintf("dataset %s's images, of %s", ds.Name, pr.shape(in))
	case ds.Channels > 0 && p.prep.CenterCrop > 0:
		// Images of any size crop to this.
		pr.want = geometry{p.prep.CenterCrop, p.prep.CenterCrop, ds.Channels}
		pr.from = fmt.Sprintf("dataset %s's images, of any size, %v after center_crop %d", ds.Name, pr.want, p.prep.CenterCrop)
	case ds.Channels > 0 && !p.reshapes:
		return nil, core.OptionFault(optCenterCrop, fmt.Errorf("pixels: %w: dataset %s has images of different sizes (it gives no one size), and the pixels backbone flattens each image into H*W*C values, which must be as many for every image; "+
			"set resize and center_crop (e.g. resize: 64 and center_crop: 64) to bring every image to one size", core.ErrInvalidInput, ds.Name))
	}
	if pr.want != (geometry{}) && p.pcaDims > pr.want.dim() {
		return nil, core.OptionFault(optPCADims, fmt.Errorf("pixels: %w: pca_dims=%d exceeds the %d values of each image the embedding sees (%s); lower pca_dims",
			core.ErrInvalidInput, p.pcaDims, pr.want.dim(), pr.from))
	}
	return pr, nil
}

// expectState fixes the geometry every prepared image must have to the
// fitted state's.
func (pr *prep) expectState(g geometry) { pr.want, pr.from = g, fromState }

// shape names the geometry in and, with resize or center_crop, what it
// becomes.
func (pr *prep) shape(in geometry) string {
	if !pr.p.reshapes {
		return in.String()
	}
	out, err := pr.outputOf(in)
	if err != nil {
		return in.String()
	}
	var steps []string
	if pr.p.prep.Resize > 0 {
		steps = append(steps, fmt.Sprintf("resize %d", pr.p.prep.Resize))
	}
	if pr.p.prep.CenterCrop > 0 {
		steps = append(steps, fmt.Sprintf("center_crop %d", pr.p.prep.CenterCrop))
	}
	after := steps[0]
	if len(steps) == 2 {
		after += " and " + steps[1]
	}
	return fmt.Sprintf("%v, %v after %s", in, out, after)
}

// outputOf is the geometry images of in have once prepared.
func (pr *prep) outputOf(in geometry) (geometry, error) {
	if !pr.p.reshapes {
		return in, nil
	}
	pl, err := pr.plan(in)
	if err != nil {
		return geometry{}, err
	}
	oh, ow := pl.OutputSize()
	return geometry{oh, ow, in.c}, nil
}

func (pr *prep) plan(in geometry) (*imageprep.BytePlan, error) {
	if pl, ok := pr.plans[in]; ok {
		return pl, nil
	}
	pl, err := pr.p.prep.BytePlan(in.h, in.w, in.c)
	if err != nil {
		return nil, fmt.Errorf("%w: images of %v: %w", core.ErrInvalidInput, in, err)
	}
	if len(pr.plans) >= maxPlans {
		clear(pr.plans)
	}
	pr.plans[in] = pl
	return pl, nil
}

// apply checks batch b and returns its images as the embedding sees them
// (b.Pixels itself when there is nothing to do), with their geometry.
// Resized images go to scratch when it has room for them (a caller that
// uses them before the next batch reuses one buffer), else to a new one.
func (pr *prep) apply(ctx context.Context, b core.ImageBatch, scratch []uint8) ([]uint8, geometry, error) {
	in := geometry{b.Height, b.Width, b.Channels}
	if err := in.check(b); err != nil {
		return nil, geometry{}, err
	}
	if pr.ds.FixedSize() {
		if ds := (geometry{pr.ds.Height, pr.ds.Width, pr.ds.Channels}); in != ds {
			return nil, geometry{}, fmt.Errorf("%w: batch at offset %d has images of %v, but dataset %s said its images are %v", core.ErrInvalidInput, b.Offset, in, pr.ds.Name, ds)
		}
	} else if pr.ds.Channels > 0 && in.c != pr.ds.Channels {
		return nil, geometry{}, fmt.Errorf("%w: batch at offset %d has images of %v, but dataset %s said its images have %d channels", core.ErrInvalidInput, b.Offset, in, pr.ds.Name, pr.ds.Channels)
	}
	out, err := pr.outputOf(in)
	if err != nil {
		return nil, geometry{}, err
	}
	if pr.want == (geometry{}) {
		pr.want, pr.from = out, "the stream's first images, of "+pr.shape(in)
	}
	if out != pr.want {
		return nil, geometry{}, pr.mismatch(b, in, out)
	}
	if !pr.p.reshapes {
		return b.Pixels, out, nil
	}
	pl, err := pr.plan(in)
	if err != nil {
		return nil, geometry{}, err
	}
	px := scratch[:0]
	if n := b.Count * out.dim(); cap(px) >= n {
		px = px[:n]
	} else {
		px = make([]uint8, n)
	}
	if err := pl.Batch(ctx, b.Pixels, b.Count, px, 0); err != nil {
		return nil, geometry{}, err
	}
	return px, out, nil
}

// mismatch explains why images of in (out once prepared) cannot join the
// stream.
func (pr *prep) mismatch(b core.ImageBatch, in, out geometry) error {
	if pr.from == fromState {
		what := fmt.Sprintf("images of %v", in)
		if pr.p.reshapes {
			what += fmt.Sprintf(", which become %v", out)
		}
		return fmt.Errorf("%w: batch at offset %d has %s, the fitted state has %v", core.ErrInvalidInput, b.Offset, what, pr.want)
	}
	return core.OptionFault(optCenterCrop, fmt.Errorf("%w: batch at offset %d has images of %s, unlike %s: the pixels backbone flattens each image into H*W*C values, which must be as many for every image; "+
		"images of different sizes need resize and center_crop (e.g. resize: 64 and center_crop: 64) to become one size",
		core.ErrInvalidInput, b.Offset, pr.shape(in), pr.from))
}
