package imageprep

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// layout is a Config applied to one input geometry: the output size, where
// the resized image lands in it, and the resampler that makes the part
// that is used. Plan and BytePlan share it.
type layout struct {
	cfg      Config
	h, w, ch int
	oh, ow   int
	// offY, offX locate output pixel (0, 0) in the resized image; negative
	// when the crop is larger than the image and zero padding comes first.
	offY, offX int
	padded     bool
	r          *resampler
	pool       sync.Pool // *scratch
}

// init lays c out for h x w images of channels channels; c must be valid.
func (l *layout) init(c Config, h, w, channels int) error {
	if err := checkGeometry(h, w, channels); err != nil {
		return err
	}
	rh, rw := c.ResizedSize(h, w)
	if rh <= 0 || rw <= 0 {
		return fmt.Errorf("resize %dx%d with %s gives an empty %dx%d image; use a larger resize", h, w, c, rh, rw)
	}
	l.cfg, l.h, l.w, l.ch, l.oh, l.ow = c, h, w, channels, rh, rw
	if c.CenterCrop > 0 {
		l.oh, l.ow = c.CenterCrop, c.CenterCrop
		l.offY, l.offX = cropWindow(rh, c.CenterCrop), cropWindow(rw, c.CenterCrop)
	}
	// The part of the resized image that lands in the output.
	y0, y1 := max(l.offY, 0), min(l.offY+l.oh, rh)
	x0, x1 := max(l.offX, 0), min(l.offX+l.ow, rw)
	l.padded = y1-y0 < l.oh || x1-x0 < l.ow
	l.r = newResampler(c.Filter, h, w, channels, rh, rw, y0, y1, x0, x1)
	return nil
}

func (l *layout) getScratch() *scratch {
	if s, ok := l.pool.Get().(*scratch); ok {
		return s
	}
	return l.r.newScratch()
}

// Plan is a Config applied to one input geometry for tensors: the resize
// kernels, the crop window and the normalisation table are computed once
// and serve any number of images. A Plan is safe for concurrent use.
type Plan struct {
	layout
	// norm[c][clipBias+v] is Normalize(ToTensor(clip(v))) for channel c and
	// an accumulator v>>PRECISION_BITS (so the clip to 0..255 comes free):
	// the float32 operations torchvision performs, (u/255 - mean) / std,
	// done once per possible byte u.
	norm [3][clipSpan]float32
}

// Plan prepares c for images of h x w pixels with channels interleaved
// uint8 channels (HWC): 3 for RGB, 1 for grayscale. A grayscale image gives
// the same tensor as the PIL pipeline applied after Image.convert("RGB"),
// its one channel repeated three times.
func (c Config) Plan(h, w, channels int) (*Plan, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p := &Plan{}
	if err := p.layout.init(c, h, w, channels); err != nil {
		return nil, err
	}
	for ch := range 3 {
		m, s := c.Mean[ch], c.Std[ch]
		for i := range clipSpan {
			u := min(max(i-clipBias, 0), 255)
			v := float32(u) / 255
			p.norm[ch][i] = (v - m) / s
		}
	}
	return p, nil
}

// Config is the configuration the plan applies.
func (p *Plan) Config() Config { return p.cfg }

// OutputSize is the spatial size of each output tensor (3 x oh x ow).
func (p *Plan) OutputSize() (oh, ow int) { return p.oh, p.ow }

// ImageLen is the number of bytes of one input image.
func (p *Plan) ImageLen() int { return p.h * p.w * p.ch }

// TensorLen is the number of float32 values of one output tensor.
func (p *Plan) TensorLen() int { return 3 * p.oh * p.ow }

// Image preprocesses one HWC image into dst, which must hold TensorLen
// values and receives the CHW tensor.
func (p *Plan) Image(img []uint8, dst []float32) error {
	if len(img) != p.ImageLen() {
		return fmt.Errorf("image buffer holds %d bytes, a %dx%dx%d image needs %d", len(img), p.h, p.w, p.ch, p.ImageLen())
	}
	if len(dst) != p.TensorLen() {
		return fmt.Errorf("output buffer holds %d values, a 3x%dx%d tensor needs %d", len(dst), p.oh, p.ow, p.TensorLen())
	}
	s := p.getScratch()
	p.image(img, dst, s)
	p.pool.Put(s)
	return nil
}

func (p *Plan) image(img []uint8, dst []float32, s *scratch) {
	plane := p.oh * p.ow
	r0, g0, b0 := dst[:plane], dst[plane:2*plane], dst[2*plane:3*plane]
	nr, ng, nb := &p.norm[0], &p.norm[1], &p.norm[2]
	if p.padded {
		// Zero bytes of the padding, normalised like any other pixel.
		fill(r0, nr[clipBias])
		fill(g0, ng[clipBias])
		fill(b0, nb[clipBias])
	}
	col := p.r.x0 - p.offX
	tw := p.r.x1 - p.r.x0
	p.r.horizontal(img, s)
	for ry := p.r.y0; ry < p.r.y1; ry++ {
		o := (ry-p.offY)*p.ow + col
		dr, dg, db := r0[o:o+tw], g0[o:o+tw], b0[o:o+tw]
		rows, k := p.r.verticalTaps(ry, s)
		switch {
		case k == nil:
			normRow(dr, dg, db, rows, p.ch, nr, ng, nb)
		case len(k) == 4 && p.ch == 3:
			// Every row of an upscale such as CIFAR's 32 -> 224.
			normVertical4RGB(dr, dg, db, rows, k, nr, ng, nb)
		default:
			vertical(s.row, rows, tw*p.ch, k)
			normRow(dr, dg, db, s.row, p.ch, nr, ng, nb)
		}
	}
}

// clipSpan covers every accumulator value>>PRECISION_BITS the filters can
// reach, as Pillow's clip8 lookup table does (-640..639).
const (
	clipBias = 640
	clipSpan = 1280
)

// clipIndex maps an accumulator to its index in Plan.norm. The bounds are
// never reached by a bicubic kernel; they keep a table lookup safe anyway.
func clipIndex(a int32) int {
	return min(max(int(a>>precisionBits)+clipBias, 0), clipSpan-1)
}

// normRow writes one finished row of bytes (ch = 1 or 3 per pixel) to the
// three output planes.
func normRow(dr, dg, db []float32, row []uint8, ch int, nr, ng, nb *[clipSpan]float32) {
	if ch == 3 {
		row = row[:3*len(dr)]
		for x := range dr {
			q := row[3*x : 3*x+3 : 3*x+3]
			dr[x], dg[x], db[x] = nr[clipBias+int(q[0])], ng[clipBias+int(q[1])], nb[clipBias+int(q[2])]
		}
		return
	}
	row = row[:len(dr)]
	for x, u := range row {
		dr[x], dg[x], db[x] = nr[clipBias+int(u)], ng[clipBias+int(u)], nb[clipBias+int(u)]
	}
}

// normVertical4RGB is the vertical pass for a 4-tap kernel fused with
// clipping and normalisation: the same integer sums as vertical, then one
// table lookup per value.
func normVertical4RGB(dr, dg, db []float32, rows []uint8, k []int32, nr, ng, nb *[clipSpan]float32) {
	n := 3 * len(dr)
	rowLen := len(rows) / 4
	r0, r1, r2, r3 := rows[:n], rows[rowLen:rowLen+n], rows[2*rowLen:2*rowLen+n], rows[3*rowLen:3*rowLen+n]
	k0, k1, k2, k3 := k[0], k[1], k[2], k[3]
	for x := range dr {
		j := 3 * x
		p0, p1, p2, p3 := r0[j:j+3:j+3], r1[j:j+3:j+3], r2[j:j+3:j+3], r3[j:j+3:j+3]
		dr[x] = nr[clipIndex(half+int32(p0[0])*k0+int32(p1[0])*k1+int32(p2[0])*k2+int32(p3[0])*k3)]
		dg[x] = ng[clipIndex(half+int32(p0[1])*k0+int32(p1[1])*k1+int32(p2[1])*k2+int32(p3[1])*k3)]
		db[x] = nb[clipIndex(half+int32(p0[2])*k0+int32(p1[2])*k1+int32(p2[2])*k2+int32(p3[2])*k3)]
	}
}

func fill(dst []float32, v float32) {
	for i := range dst {
		dst[i] = v
	}
}

// Batch preprocesses n images stored one after the other in pixels (NHWC)
// into dst (NCHW, n*TensorLen values), spreading the images over workers
// goroutines (GOMAXPROCS when workers <= 0). It stops early, returning the
// context's error, when ctx is cancelled.
func (p *Plan) Batch(ctx context.Context, pixels []uint8, n int, dst []float32, workers int) error {
	return Run(ctx, []Work{{Plan: p, Pixels: pixels, N: n, Dst: dst}}, workers)
}

// Work is N images of one size that Plan preprocesses: Pixels holds them
// one after the other (NHWC), Dst receives their tensors (NCHW).
type Work struct {
	Plan   *Plan
	Pixels []uint8
	N      int
	Dst    []float32
}

// Run preprocesses the images of every work, spreading them over workers
// goroutines (GOMAXPROCS when workers <= 0) image by image, whichever work
// they belong to: a model batch gathered from many small input batches of
// different sizes (a folder of photos, one image per batch) keeps every
// core busy. It stops early, returning the context's error, when ctx is
// cancelled.
func Run(ctx context.Context, works []Work, workers int) error {
	var idx []imageRef
	for wi, wk := range works {
		p := wk.Plan
		in, out := p.ImageLen(), p.TensorLen()
		if wk.N < 0 || len(wk.Pixels) != wk.N*in {
			return fmt.Errorf("batch buffer holds %d bytes, %d images of %dx%dx%d need %d", len(wk.Pixels), wk.N, p.h, p.w, p.ch, wk.N*in)
		}
		if len(wk.Dst) != wk.N*out {
			return fmt.Errorf("output buffer holds %d values, %d tensors of 3x%dx%d need %d", len(wk.Dst), wk.N, p.oh, p.ow, wk.N*out)
		}
		for i := range wk.N {
			idx = append(idx, imageRef{wi, i})
		}
	}
	return forEach(ctx, len(idx), workers, func(k int) {
		wk := works[idx[k].work]
		p, i := wk.Plan, idx[k].i
		in, out := p.ImageLen(), p.TensorLen()
		s := p.getScratch()
		p.image(wk.Pixels[i*in:(i+1)*in], wk.Dst[i*out:(i+1)*out], s)
		p.pool.Put(s)
	})
}

// imageRef is image i of work.
type imageRef struct{ work, i int }

// forEach calls fn(0..n-1) on workers goroutines (GOMAXPROCS when workers
// <= 0), each taking the next index, and stops early when ctx is
// cancelled.
func forEach(ctx context.Context, n, workers int, fn func(i int)) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(min(workers, n), 1)
	var next atomic.Int64
	work := func() error {
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("preprocess batch: stopped at image %d of %d: %w", i, n, err)
			}
			fn(i)
		}
	}
	if workers == 1 {
		return work()
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { errs[w] = work() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ToCHW preprocesses one h x w HWC image into dst (3*oh*ow values, CHW).
// For many images of one size, Plan once and call Plan.Image or Plan.Batch.
func (c Config) ToCHW(img []uint8, h, w, channels int, dst []float32) error {
	p, err := c.Plan(h, w, channels)
	if err != nil {
		return err
	}
	return p.Image(img, dst)
}

// Batch preprocesses n h x w images (NHWC in pixels) into dst (NCHW) with
// workers goroutines; see Plan.Batch.
func (c Config) Batch(ctx context.Context, pixels []uint8, n, h, w, channels int, dst []float32, workers int) error {
	p, err := c.Plan(h, w, channels)
	if err != nil {
		return err
	}
	return p.Batch(ctx, pixels, n, dst, workers)
}
