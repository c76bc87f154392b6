package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/clusterlab/clusterlab/backbones/internal/imageprep"
	"github.com/clusterlab/clusterlab/core"
)

// Version changes whenever the backbone would compute different embeddings
// or a different fitted state for the same options and images.
const Version = "1.0.0"

// Option names.
const (
	optPCADims       = "pca_dims"
	optStandardize   = "standardize"
	optPCAFitSamples = "pca_fit_samples"
	optWhiten        = "whiten"
	optResize        = "resize"
	optInterpolation = "interpolation"
	optCenterCrop    = "center_crop"
)

// defaultInterpolation is torchvision Resize's default filter.
const defaultInterpolation = "bilinear"

// subsetSeed seeds the choice of the pca_fit_samples images. It is fixed so
// that the options alone (with the dataset) determine the fitted state.
const subsetSeed = 0x5eed

// Backbone embeds images as their raw pixels scaled to [0, 1], optionally
// reduced by PCA and/or standardised with statistics of the train split. It
// is the no-network baseline backbone. The zero value is ready to use.
type Backbone struct{}

var _ core.Backbone = Backbone{}

func schema() []core.Option {
	return []core.Option{
		{
			Name: optPCADims, Type: core.TypeInt, Default: 0, Min: core.Bound(0), AtMost: []string{core.RefImageValues, core.RefTrainSamples},
			Help: "reduce the pixels (H*W*C values in [0,1]) to this many principal components fitted on the train split; 0 = no PCA",
		},
		{
			Name: optStandardize, Type: core.TypeBool, Default: false,
			Help: "after PCA (or on the raw pixels) subtract the train mean and divide by the train standard deviation per dimension (dimensions constant on train are only centred)",
		},
		{
			Name: optPCAFitSamples, Type: core.TypeInt, Default: 0, Min: core.Bound(0),
			Help: "fit the PCA on a seeded uniform subset of this many train images; 0 = all train images (needs pca_dims > 0)",
		},
		{
			Name: optWhiten, Type: core.TypeBool, Default: false,
			Help: "divide each principal component by the square root of its eigenvalue, giving unit variance on the fit images (needs pca_dims > 0)",
		},
		// The resize options have no default, so that a config without
		// them resolves to the options it always did (the runner's trial
		// identity hashes the resolved options); unset means 0 / bilinear.
		{
			Name: optResize, Type: core.TypeInt, Optional: true, Min: core.Bound(0),
			Help: "before flattening, resize the smaller image edge to this many pixels, the longer one keeping the aspect ratio, exactly as torchvision Resize(resize, interpolation) on a PIL image (Pillow's fixed-point resampling of uint8 images); unset or 0 = keep the size",
		},
		{
			Name: optInterpolation, Type: core.TypeString, Optional: true, Choices: imageprep.Filters(),
			Help: "filter of resize: bilinear (PIL.Image.BILINEAR, torchvision's default), bicubic (PIL.Image.BICUBIC) or nearest (PIL.Image.NEAREST); unset = bilinear; needs resize > 0",
		},
		{
			Name: optCenterCrop, Type: core.TypeInt, Optional: true, Min: core.Bound(0),
			Help: "after resizing, cut a square of this many pixels from the centre, exactly as torchvision CenterCrop (offset round((size - crop) / 2), zero padding where the image is smaller); unset or 0 = no crop; images of different sizes (a folder of photos) need it to become vectors of one length",
		},
	}
}

func description() core.Description {
	return core.Description{
		Kind:    core.KindBackbone,
		Name:    "pixels",
		Version: Version,
		Summary: "raw pixels scaled to [0,1], optionally PCA-reduced, whitened and standardised on the train split",
		Options: schema(),
	}
}

// params are the resolved options.
type params struct {
	pcaDims, fitSamples int
	standardize, whiten bool
	// prep is the resize and crop; reshapes says whether there is one.
	prep      imageprep.Config
	reshapes  bool
	canonical string // identity-relevant options as canonical JSON
}

// options are the backbone's options as given (core.Decode fills them).
type options struct {
	PCADims       int     `option:"pca_dims"`
	PCAFitSamples int     `option:"pca_fit_samples"`
	Standardize   bool    `option:"standardize"`
	Whiten        bool    `option:"whiten"`
	Resize        *int    `option:"resize"`
	Interpolation *string `option:"interpolation"`
	CenterCrop    *int    `option:"center_crop"`
}

func resolve(opts core.Options) (params, error) {
	var o options
	resolved, err := core.Decode(schema(), opts, &o)
	if err != nil {
		return params{}, err
	}
	p := params{
		pcaDims: o.PCADims, fitSamples: o.PCAFitSamples,
		standardize: o.Standardize, whiten: o.Whiten,
	}
	interp := defaultInterpolation
	if o.Interpolation != nil {
		interp = *o.Interpolation
	}
	if p.prep.Filter, err = imageprep.ParseFilter(interp); err != nil {
		return params{}, &core.OptionError{Key: optInterpolation, Msg: err.Error()}
	}
	if o.Resize != nil {
		p.prep.Resize = *o.Resize
	}
	if o.CenterCrop != nil {
		p.prep.CenterCrop = *o.CenterCrop
	}
	if p.prep.Resize == 0 && interp != defaultInterpolation {
		return params{}, &core.OptionError{Key: optInterpolation, Msg: fmt.Sprintf("%q only affects resize; set resize > 0 or leave interpolation unset", interp)}
	}
	p.reshapes = p.prep.Resize > 0 || p.prep.CenterCrop > 0
	// The identity (and the fitted state) name the resize options only
	// when they do something, so that every config without them keeps the
	// identity, cache entries and fitted states it had before they existed.
	id := make(core.Options, len(resolved))
	for k, v := range resolved {
		id[k] = v
	}
	delete(id, optResize)
	delete(id, optInterpolation)
	delete(id, optCenterCrop)
	if p.prep.Resize > 0 {
		id[optResize], id[optInterpolation] = int64(p.prep.Resize), p.prep.Filter.String()
	}
	if p.prep.CenterCrop > 0 {
		id[optCenterCrop] = int64(p.prep.CenterCrop)
	}
	p.canonical = id.Canonical()
	if p.pcaDims == 0 {
		if p.whiten {
			return params{}, &core.OptionError{Key: optWhiten, Msg: "whitening divides principal components by their eigenvalues; set pca_dims > 0 or whiten: false"}
		}
		if p.fitSamples > 0 {
			return params{}, &core.OptionError{Key: optPCAFitSamples, Msg: "only affects the PCA fit; set pca_dims > 0 or pca_fit_samples: 0"}
		}
	}
	return p, nil
}

// needsFit: the raw pixel embedding needs no state.
func (p params) needsFit() bool { return p.pcaDims > 0 || p.standardize }

// identity covers everything the embeddings depend on besides the dataset
// (which enters the cache key separately): the version and the options.
func (p params) identity() string {
	return fmt.Sprintf("pixels %s input=uint8/255,HWC options=%s", Version, p.canonical)
}

// Describe implements core.Backbone.
func (Backbone) Describe(ctx context.Context, opts core.Options) (core.BackboneInfo, error) {
	d := description()
	if opts == nil {
		return core.BackboneInfo{Description: d}, nil
	}
	p, err := resolve(opts)
	if err != nil {
		return core.BackboneInfo{}, err
	}
	d.Identity = p.identity()
	return core.BackboneInfo{Description: d, NeedsFit: p.needsFit()}, nil
}

// Fit implements core.Backbone: it reads the whole train split, fits the
// mean, the principal components and/or the standard deviations, and writes
// them to req.StateDir (see state.go). Without PCA or standardisation there
// is nothing to fit and Fit returns at once.
func (Backbone) Fit(ctx context.Context, req core.EmbedRequest, in core.BatchReader) error {
	p, err := resolve(req.Options)
	if err != nil {
		return err
	}
	if !p.needsFit() {
		return nil
	}
	if req.Split != core.SplitTrain {
		return fmt.Errorf("pixels: Fit must read the %q split, got %q", core.SplitTrain, req.Split)
	}
	if req.StateDir == "" {
		return errors.New("pixels: Fit needs a state directory (EmbedRequest.StateDir) to write its fitted state to")
	}
	pr, err := newPrep(p, req.Dataset)
	if err != nil {
		return err
	}
	imgs, err := readImages(ctx, in, pr, req.Dataset)
	if err != nil {
		return fmt.Errorf("pixels: read the train split: %w", err)
	}
	st, err := fit(ctx, p, imgs)
	if err != nil {
		return fmt.Errorf("pixels: fit: %w", err)
	}
	return st.write(req.StateDir)
}

// Embed implements core.Backbone: one EmbeddingBatch per image batch.
func (Backbone) Embed(ctx context.Context, req core.EmbedRequest, in core.BatchReader, send func(core.EmbeddingBatch) error) error {
	p, err := resolve(req.Options)
	if err != nil {
		return err
	}
	pr, err := newPrep(p, req.Dataset)
	if err != nil {
		return err
	}
	var t *transform
	if p.needsFit() {
		st, err := loadState(req.StateDir, p)
		if err != nil {
			return err
		}
		t = st.transform()
		pr.expectState(st.geometry())
	}
	var buf []float32
	var resized []uint8 // the resized images of the batch, reused
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := in.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("pixels: read images: %w", err)
		}
		px, g, err := pr.apply(ctx, b, resized)
		if err != nil {
			return fmt.Errorf("pixels: %w", err)
		}
		if p.reshapes {
			resized = px
		}
		if t == nil {
			t = &transform{inDim: g.dim(), outDim: g.dim()}
		}
		out := make([]float32, b.Count*t.outDim)
		if t.proj != nil && len(buf) < b.Count*t.inDim {
			buf = make([]float32, b.Count*t.inDim)
		}
		t.apply(px, b.Count, out, buf)
		if err := send(core.EmbeddingBatch{Offset: b.Offset, Count: b.Count, Dim: t.outDim, Values: out}); err != nil {
			return err
		}
	}
}

// geometry is the shape of one image.
type geometry struct{ h, w, c int }

func (g geometry) dim() int { return g.h * g.w * g.c }

func (g geometry) String() string { return fmt.Sprintf("%dx%dx%d (HxWxC)", g.h, g.w, g.c) }

func (g geometry) check(b core.ImageBatch) error {
	if g.h <= 0 || g.w <= 0 || g.c <= 0 || b.Count < 0 {
		return fmt.Errorf("batch at offset %d: bad shape: %d images of %v", b.Offset, b.Count, g)
	}
	if len(b.Pixels) != b.Count*g.dim() {
		return fmt.Errorf("batch at offset %d: %d pixel values for %d images of %v (want %d)", b.Offset, len(b.Pixels), b.Count, g, b.Count*g.dim())
	}
	return nil
}

// images is a whole split in memory.
type images struct {
	geometry
	n  int
	px []uint8 // n x dim
}

// readImages reads a split to the end, prepared by pr (which checks that
// they have one geometry), and checks that batches are consecutive.
func readImages(ctx context.Context, in core.BatchReader, pr *prep, info core.DatasetInfo) (images, error) {
	var im images
	if pr.want != (geometry{}) {
		if s, ok := info.Split(core.SplitTrain); ok {
			im.px = make([]uint8, 0, s.Count*pr.want.dim())
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return images{}, err
		}
		b, err := in.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return images{}, err
		}
		px, g, err := pr.apply(ctx, b, nil)
		if err != nil {
			return images{}, err
		}
		im.geometry = g
		if b.Offset != im.n {
			return images{}, fmt.Errorf("batch at offset %d follows %d images; batches must be consecutive", b.Offset, im.n)
		}
		im.px = append(im.px, px...)
		im.n += b.Count
	}
	if im.n == 0 {
		return images{}, errors.New("the split holds no images")
	}
	return im, nil
}

// fitSubset returns the sorted indices of a seeded uniform sample of k of n
// images, or nil (all images) when k is 0 or not below n.
func fitSubset(n, k int) []int {
	if k <= 0 || k >= n {
		return nil
	}
	r := rand.New(rand.NewPCG(subsetSeed, uint64(n)))
	rows := r.Perm(n)[:k]
	slices.Sort(rows)
	return rows
}

// fit computes the state of p from the train images. The embedding is
// (see transform):
//
//	z = pixels/255 - mean
//	z = components · z, each row divided by sqrt(eigenvalue) if whiten  (PCA)
//	z = z / std                                                       (standardize)
//
// mean is the mean of the PCA fit images, as in sklearn's PCA.transform;
// with standardize it is the mean of all train images instead: centring at
// another point only shifts the projection by a constant, and centring at
// the train mean makes the standardised train embeddings exactly zero-mean,
// so std is then all that standardisation has to store.
func fit(ctx context.Context, p params, im images) (*state, error) {
	d := im.dim()
	st := &state{meta: stateMeta{
		Plugin: "pixels", Version: Version, Options: []byte(p.canonical), Identity: p.identity(),
		Height: im.h, Width: im.w, Channels: im.c, InputDim: d, OutputDim: d, TrainImages: im.n,
	}}
	var mean []float64
	if p.pcaDims > 0 {
		if p.pcaDims > d {
			return nil, fmt.Errorf("pca_dims=%d exceeds the %d values of a %v image", p.pcaDims, d, im.geometry)
		}
		rows := fitSubset(im.n, p.fitSamples)
		st.meta.FitImages = im.n
		if rows != nil {
			st.meta.FitImages = len(rows)
		}
		if st.meta.FitImages <= p.pcaDims {
			return nil, fmt.Errorf("pca_dims=%d needs more than %d fit images; lower pca_dims or raise pca_fit_samples", p.pcaDims, st.meta.FitImages)
		}
		mean = pixelMean(im.px, d, im.n, rows)
		cov, err := covariance(ctx, im.px, d, im.n, rows, mean)
		if err != nil {
			return nil, err
		}
		res, err := topComponents(cov, p.pcaDims)
		if err != nil {
			return nil, err
		}
		if p.whiten {
			last := res.variances[p.pcaDims-1]
			if !(last > 1e-12*res.variances[0]) {
				return nil, fmt.Errorf("whiten: component %d has variance %.3g (the largest has %.3g): the images span fewer than pca_dims=%d dimensions; lower pca_dims",
					p.pcaDims, last, res.variances[0], p.pcaDims)
			}
		}
		st.components = toFloat32(res.components)
		st.variances = toFloat32(res.variances)
		var explained float64
		for _, v := range res.variances {
			explained += v
		}
		st.meta.TotalVariance = res.totalVariance
		if res.totalVariance > 0 {
			st.meta.ExplainedVarianceRatio = explained / res.totalVariance
		}
		st.meta.OutputDim = p.pcaDims
		if p.standardize && rows != nil {
			mean = pixelMean(im.px, d, im.n, nil)
		}
	} else {
		mean = pixelMean(im.px, d, im.n, nil)
	}
	st.mean = toFloat32(mean)
	st.whiten = p.whiten
	if p.standardize {
		std, err := trainStd(ctx, st.transform(), im)
		if err != nil {
			return nil, err
		}
		st.std = std
	}
	return st, nil
}

// embedChunk images are embedded at a time while fitting.
const embedChunk = 4096

// trainStd embeds the train images with t and returns the population
// standard deviation of each output dimension (ddof=0, as sklearn's
// StandardScaler), with 1 in place of a zero (or, relative to the largest,
// negligible) deviation so that constant dimensions are only centred.
func trainStd(ctx context.Context, t *transform, im images) ([]float32, error) {
	k, d := t.outDim, im.dim()
	sum := make([]float64, k)
	sumSq := make([]float64, k)
	out := make([]float32, embedChunk*k)
	buf := make([]float32, embedChunk*d)
	for lo := 0; lo < im.n; lo += embedChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(embedChunk, im.n-lo)
		t.apply(im.px[lo*d:(lo+n)*d], n, out, buf)
		for i := range n {
			for j, v := range out[i*k : (i+1)*k] {
				sum[j] += float64(v)
				sumSq[j] += float64(v) * float64(v)
			}
		}
	}
	std := make([]float64, k)
	var largest float64
	for j := range k {
		m := sum[j] / float64(im.n)
		std[j] = math.Sqrt(math.Max(sumSq[j]/float64(im.n)-m*m, 0))
		largest = math.Max(largest, std[j])
	}
	out32 := make([]float32, k)
	for j, s := range std {
		if !(s > 1e-6*largest) {
			s = 1
		}
		out32[j] = float32(s)
	}
	return out32, nil
}

func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
