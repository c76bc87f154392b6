package imageprep

import (
	"fmt"
	"math"
	"sync"
)

// The resampler below follows Pillow 9.4's src/libImaging/Resample.c for
// 8-bit images (ImagingResampleInner with the BICUBIC or BILINEAR filter
// and the full image as box) step by step, because any deviation, even in
// how a coefficient is rounded, changes some output bytes:
//
//   - one 1-D kernel per axis (precompute_coeffs), evaluated in float64,
//     normalised to sum 1, then turned into fixed point with PRECISION_BITS
//     fraction bits, rounding half away from zero (normalize_coeffs_8bpc);
//   - a horizontal pass, if the width changes, over only the input rows the
//     vertical pass will read, into an intermediate uint8 image;
//   - a vertical pass, if the height changes, from that image;
//   - each output sample is 1<<(PRECISION_BITS-1) plus the integer sum of
//     coefficient*byte, shifted right and clipped to 0..255.
//
// Floating-point expressions are written with explicit float64 conversions
// where Go would otherwise be allowed to fuse a multiply and an add into an
// FMA (on arm64, say), which C compiled for baseline amd64 never does.
//
// NEAREST takes another road in Pillow: Image.resize hands it to
// ImagingTransform as an affine scale (Geometry.c ImagingScaleAffine),
// which picks, for output sample x, the input sample int(x0), x0 starting
// at scale/2 and growing by scale (= in/out, a float64) by repeated
// addition. nearestKernel reproduces that table as a kernel of one tap of
// weight 1.0 in fixed point, which the same passes then apply exactly:
// (half + v<<PRECISION_BITS) >> PRECISION_BITS is v.

// precisionBits is Pillow's PRECISION_BITS: 8 bits of result, 2 bits of
// headroom for the negative lobes of the filter, and the sign bit.
const precisionBits = 32 - 8 - 2

// half is the rounding offset every accumulator starts from.
const half = int32(1) << (precisionBits - 1)

// Radii of the filters at scale 1 (Pillow's struct filter support).
const (
	bicubicSupport  = 2.0
	bilinearSupport = 1.0
)

// bicubic is Pillow's bicubic_filter: Keys' cubic convolution with a = -0.5.
func bicubic(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return float64(float64(float64(float64((a+2)*x)-(a+3))*x)*x) + 1
	}
	if x < 2 {
		return float64(float64(float64(float64(x-5)*x)+8)*x-4) * a
	}
	return 0
}

// bilinear is Pillow's bilinear_filter: the triangle.
func bilinear(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

// kernel holds the fixed-point coefficients of one axis of a resize from in
// to out samples: output i reads count[i] input samples from start[i] on,
// with weights coef[i*ksize : i*ksize+count[i]].
type kernel struct {
	in, out int
	ksize   int
	start   []int
	count   []int
	coef    []int32
}

// newKernel returns the kernel of filter f resizing in to out samples.
func newKernel(f Filter, in, out int) *kernel {
	switch f {
	case Bilinear:
		return filterKernel(bilinear, bilinearSupport, in, out)
	case Nearest:
		return nearestKernel(in, out)
	default:
		return filterKernel(bicubic, bicubicSupport, in, out)
	}
}

// filterKernel is precompute_coeffs followed by normalize_coeffs_8bpc, for
// the box [0, in] of the input axis.
func filterKernel(filter func(float64) float64, filterSupport float64, in, out int) *kernel {
	// In C, in1 - in0 is a float subtraction of two floats holding whole
	// numbers; exact for any image size Pillow accepts.
	scale := float64(in) / float64(out)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := filterSupport * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	ss := 1.0 / filterscale

	k := &kernel{in: in, out: out, ksize: ksize,
		start: make([]int, out), count: make([]int, out), coef: make([]int32, out*ksize)}
	w := make([]float64, ksize)
	for xx := 0; xx < out; xx++ {
		center := float64(float64(xx)+0.5) * scale
		// C's (int) conversion truncates towards zero, as Go's does.
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > in {
			xmax = in
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			v := filter(float64(float64(x+xmin)-center+0.5) * ss)
			w[x] = v
			ww += v
		}
		for x := 0; x < xmax; x++ {
			if ww != 0 {
				w[x] /= ww
			}
			// Multiplying by a power of two is exact, so this matches C
			// whether or not the add is fused.
			f := w[x] * (1 << precisionBits)
			if w[x] < 0 {
				k.coef[xx*ksize+x] = int32(-0.5 + f)
			} else {
				k.coef[xx*ksize+x] = int32(0.5 + f)
			}
		}
		k.start[xx] = xmin
		k.count[xx] = xmax
	}
	return k
}

// nearestKernel is the pixel table of Pillow's ImagingScaleAffine for an
// axis of in samples scaled to out, with the whole image as box (a[2] = 0,
// a[0] = in/out): output sample x reads input sample COORD(x0), x0 =
// a[0]*0.5 + x*a[0] accumulated by addition as C does. A sample that
// would fall outside the input keeps the zero fill (no tap), as Pillow's
// fill does; with the whole image as box that never happens.
func nearestKernel(in, out int) *kernel {
	k := &kernel{in: in, out: out, ksize: 1,
		start: make([]int, out), count: make([]int, out), coef: make([]int32, out)}
	scale := float64(in) / float64(out)
	xo := 0 + scale*0.5 // a[2] + a[0]*0.5; the product is exact
	for x := range out {
		xin := -1 // COORD: (v) < 0.0 ? -1 : (int)(v)
		if xo >= 0 {
			xin = int(xo)
		}
		if xin >= 0 && xin < in {
			k.start[x], k.count[x], k.coef[x] = xin, 1, 1<<precisionBits
		}
		xo += scale
	}
	return k
}

// taps returns the input start and the coefficients of output sample i.
func (k *kernel) taps(i int) (int, []int32) {
	o := i * k.ksize
	return k.start[i], k.coef[o : o+k.count[i]]
}

// kernelCache shares kernels between images and calls: a dataset's images
// usually all have one size, so one or two kernels serve a whole run. It is
// emptied when it grows past kernelCacheMax (datasets of assorted sizes).
var kernelCache = struct {
	sync.Mutex
	m map[kernelKey]*kernel
}{m: map[kernelKey]*kernel{}}

type kernelKey struct {
	f       Filter
	in, out int
}

const kernelCacheMax = 256

// cachedKernel returns the (immutable, shared) kernel of filter f resizing
// in to out.
func cachedKernel(f Filter, in, out int) *kernel {
	key := kernelKey{f, in, out}
	kernelCache.Lock()
	k, ok := kernelCache.m[key]
	kernelCache.Unlock()
	if ok {
		return k
	}
	k = newKernel(f, in, out) // outside the lock: big kernels take a while
	kernelCache.Lock()
	if len(kernelCache.m) >= kernelCacheMax {
		kernelCache.m = map[kernelKey]*kernel{}
	}
	kernelCache.m[key] = k
	kernelCache.Unlock()
	return k
}

// clip8 is Pillow's clip8: drop the fraction bits and saturate.
func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// resampler resizes h x w images of ch interleaved uint8 channels to rh x rw
// and produces the window [y0, y1) x [x0, x1) of the result (all of it
// unless a crop needs less). Pillow resizes every channel of an 8-bit
// non-alpha image independently with the same kernels (and NEAREST copies
// whole pixels), so 1 (mode L) and 3 (mode RGB) channels are both exact.
type resampler struct {
	h, w, ch       int
	rh, rw         int
	hk, vk         *kernel // nil: that axis keeps its size and is copied
	y0, y1, x0, x1 int
	inY0, inY1     int // input rows the horizontal pass must produce
}

func newResampler(f Filter, h, w, ch, rh, rw, y0, y1, x0, x1 int) *resampler {
	r := &resampler{h: h, w: w, ch: ch, rh: rh, rw: rw, y0: y0, y1: y1, x0: x0, x1: x1}
	if rw != w {
		r.hk = cachedKernel(f, w, rw)
	}
	r.inY0, r.inY1 = y0, y1
	if rh != h {
		r.vk = cachedKernel(f, h, rh)
		r.inY0, r.inY1 = 0, 0
		for y := y0; y < y1; y++ {
			s, k := r.vk.taps(y)
			if y == y0 {
				r.inY0, r.inY1 = s, s+len(k)
			}
			r.inY0 = min(r.inY0, s)
			r.inY1 = max(r.inY1, s+len(k))
		}
	}
	return r
}

// scratch is the per-goroutine working memory of a resampler.
type scratch struct {
	tmp []uint8 // horizontal pass output: rows inY0..inY1, columns x0..x1
	row []uint8 // one output row of the vertical pass
}

func (r *resampler) newScratch() *scratch {
	rowLen := (r.x1 - r.x0) * r.ch
	return &scratch{tmp: make([]uint8, (r.inY1-r.inY0)*rowLen), row: make([]uint8, rowLen)}
}

// horizontal runs the horizontal pass (or copies the wanted columns when
// the width does not change) into s.tmp.
func (r *resampler) horizontal(src []uint8, s *scratch) {
	ch := r.ch
	rowLen := (r.x1 - r.x0) * ch
	inRow := r.w * ch
	for y := r.inY0; y < r.inY1; y++ {
		in := src[y*inRow : (y+1)*inRow]
		out := s.tmp[(y-r.inY0)*rowLen : (y-r.inY0+1)*rowLen]
		switch {
		case r.hk == nil:
			copy(out, in[r.x0*ch:r.x1*ch])
		case ch == 3:
			horizontalRGB(out, in, r.hk, r.x0, r.x1)
		default:
			horizontalGeneric(out, in, r.hk, r.x0, r.x1, ch)
		}
	}
}

// verticalTaps returns what the vertical pass needs for resized row ry:
// the consecutive rows of s.tmp it reads and their coefficients, or, when
// the height does not change, k == nil and the finished row itself.
func (r *resampler) verticalTaps(ry int, s *scratch) (rows []uint8, k []int32) {
	rowLen := (r.x1 - r.x0) * r.ch
	if r.vk == nil {
		o := (ry - r.inY0) * rowLen
		return s.tmp[o : o+rowLen], nil
	}
	start, k := r.vk.taps(ry)
	start -= r.inY0
	return s.tmp[start*rowLen : (start+len(k))*rowLen], k
}

// run resizes src (h*w*ch bytes, HWC) and calls emit for each wanted row ry
// of the resized image, in order, with the bytes of columns x0..x1 (HWC).
// The row is only valid during the call.
func (r *resampler) run(src []uint8, s *scratch, emit func(ry int, row []uint8)) {
	rowLen := (r.x1 - r.x0) * r.ch
	r.horizontal(src, s)
	for ry := r.y0; ry < r.y1; ry++ {
		rows, k := r.verticalTaps(ry, s)
		if k == nil {
			emit(ry, rows)
			continue
		}
		vertical(s.row, rows, rowLen, k)
		emit(ry, s.row)
	}
}

func horizontalRGB(out, in []uint8, hk *kernel, x0, x1 int) {
	for xx := x0; xx < x1; xx++ {
		start, k := hk.taps(xx)
		p := in[start*3 : (start+len(k))*3]
		a0, a1, a2 := half, half, half
		for i, c := range k {
			q := p[i*3 : i*3+3 : i*3+3]
			a0 += int32(q[0]) * c
			a1 += int32(q[1]) * c
			a2 += int32(q[2]) * c
		}
		o := out[(xx-x0)*3 : (xx-x0)*3+3 : (xx-x0)*3+3]
		o[0], o[1], o[2] = clip8(a0), clip8(a1), clip8(a2)
	}
}

func horizontalGeneric(out, in []uint8, hk *kernel, x0, x1, ch int) {
	for xx := x0; xx < x1; xx++ {
		start, k := hk.taps(xx)
		for c := 0; c < ch; c++ {
			a := half
			for i, kc := range k {
				a += int32(in[(start+i)*ch+c]) * kc
			}
			out[(xx-x0)*ch+c] = clip8(a)
		}
	}
}

// vertical computes one output row from the len(k) consecutive input rows
// held in rows (each rowLen bytes). Integer sums do not depend on their
// order, so summing row by row is exact; the 4-tap case (every row of an
// upscale such as CIFAR's 32 -> 224) gets a single fused loop.
func vertical(out, rows []uint8, rowLen int, k []int32) {
	out = out[:rowLen]
	if len(k) == 4 {
		r0, r1, r2, r3 := rows[:rowLen], rows[rowLen:2*rowLen], rows[2*rowLen:3*rowLen], rows[3*rowLen:4*rowLen]
		k0, k1, k2, k3 := k[0], k[1], k[2], k[3]
		for j := range out {
			out[j] = clip8(half + int32(r0[j])*k0 + int32(r1[j])*k1 + int32(r2[j])*k2 + int32(r3[j])*k3)
		}
		return
	}
	var accBuf [512]int32
	for j0 := 0; j0 < rowLen; j0 += len(accBuf) {
		n := min(len(accBuf), rowLen-j0)
		acc := accBuf[:n]
		for j := range acc {
			acc[j] = half
		}
		for i, c := range k {
			row := rows[i*rowLen+j0 : i*rowLen+j0+n]
			for j, v := range row {
				acc[j] += int32(v) * c
			}
		}
		for j, a := range acc {
			out[j0+j] = clip8(a)
		}
	}
}

// Resize resizes an h x w image of channels interleaved uint8 channels
// (HWC; 1 for grayscale, 3 for RGB) to oh x ow exactly as Pillow 9.4's
// Image.resize((ow, oh), f.PIL()) does, and returns the new HWC image. An
// image already of the requested size is returned as a copy, as Pillow
// does.
func Resize(src []uint8, h, w, channels, oh, ow int, f Filter) ([]uint8, error) {
	if err := checkImage(src, h, w, channels); err != nil {
		return nil, err
	}
	if oh <= 0 || ow <= 0 {
		return nil, fmt.Errorf("resize %dx%d to %dx%d: the output size must be positive", h, w, oh, ow)
	}
	if f >= numFilters {
		return nil, fmt.Errorf("resize: %v: want one of %v", f, filterNames)
	}
	r := newResampler(f, h, w, channels, oh, ow, 0, oh, 0, ow)
	dst := make([]uint8, oh*ow*channels)
	rowLen := ow * channels
	r.run(src, r.newScratch(), func(ry int, row []uint8) {
		copy(dst[ry*rowLen:(ry+1)*rowLen], row)
	})
	return dst, nil
}

// ResizeBicubic is Resize with the bicubic filter.
func ResizeBicubic(src []uint8, h, w, channels, oh, ow int) ([]uint8, error) {
	return Resize(src, h, w, channels, oh, ow, Bicubic)
}

// checkImage validates one HWC image.
func checkImage(src []uint8, h, w, channels int) error {
	if err := checkGeometry(h, w, channels); err != nil {
		return err
	}
	if len(src) != h*w*channels {
		return fmt.Errorf("image buffer holds %d bytes, a %dx%dx%d image needs %d", len(src), h, w, channels, h*w*channels)
	}
	return nil
}

// checkGeometry validates an image size and channel count.
func checkGeometry(h, w, channels int) error {
	if h <= 0 || w <= 0 {
		return fmt.Errorf("image of %dx%d pixels: height and width must be positive", h, w)
	}
	if channels != 1 && channels != 3 {
		return fmt.Errorf("image with %d channels: only 1 (grayscale) or 3 (RGB) are supported; convert RGBA or palette images to RGB first", channels)
	}
	return nil
}
