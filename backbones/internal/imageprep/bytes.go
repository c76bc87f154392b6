package imageprep

import (
	"context"
	"fmt"
)

// BytePlan is a Config applied to one input geometry for uint8 output: the
// image torchvision's Resize(size, interpolation) then CenterCrop(crop)
// return for a PIL image, as HWC bytes with the input's channels (a
// grayscale image stays grayscale, as PIL's mode L does). Mean and Std of
// the Config are not used. A BytePlan is safe for concurrent use.
type BytePlan struct {
	layout
}

// BytePlan prepares c's resize and centre crop for images of h x w pixels
// with channels interleaved uint8 channels (1 or 3).
func (c Config) BytePlan(h, w, channels int) (*BytePlan, error) {
	if err := c.validateGeometry(); err != nil {
		return nil, err
	}
	p := &BytePlan{}
	if err := p.layout.init(c, h, w, channels); err != nil {
		return nil, err
	}
	return p, nil
}

// OutputSize is the spatial size of each output image.
func (p *BytePlan) OutputSize() (oh, ow int) { return p.oh, p.ow }

// ImageLen is the number of bytes of one input image.
func (p *BytePlan) ImageLen() int { return p.h * p.w * p.ch }

// OutputLen is the number of bytes of one output image (oh*ow*channels).
func (p *BytePlan) OutputLen() int { return p.oh * p.ow * p.ch }

// Image resizes and crops one HWC image into dst (OutputLen bytes, HWC).
func (p *BytePlan) Image(img, dst []uint8) error {
	if len(img) != p.ImageLen() {
		return fmt.Errorf("image buffer holds %d bytes, a %dx%dx%d image needs %d", len(img), p.h, p.w, p.ch, p.ImageLen())
	}
	if len(dst) != p.OutputLen() {
		return fmt.Errorf("output buffer holds %d bytes, a %dx%dx%d image needs %d", len(dst), p.oh, p.ow, p.ch, p.OutputLen())
	}
	s := p.getScratch()
	p.image(img, dst, s)
	p.pool.Put(s)
	return nil
}

func (p *BytePlan) image(img, dst []uint8, s *scratch) {
	if p.padded {
		clear(dst) // CenterCrop pads with fill 0
	}
	rowLen := p.ow * p.ch
	col := (p.r.x0 - p.offX) * p.ch
	p.r.run(img, s, func(ry int, row []uint8) {
		o := (ry-p.offY)*rowLen + col
		copy(dst[o:o+len(row)], row)
	})
}

// Batch resizes and crops n images stored one after the other in pixels
// (NHWC) into dst (n*OutputLen bytes, NHWC), spreading the images over
// workers goroutines (GOMAXPROCS when workers <= 0). It stops early,
// returning the context's error, when ctx is cancelled.
func (p *BytePlan) Batch(ctx context.Context, pixels []uint8, n int, dst []uint8, workers int) error {
	in, out := p.ImageLen(), p.OutputLen()
	if n < 0 || len(pixels) != n*in {
		return fmt.Errorf("batch buffer holds %d bytes, %d images of %dx%dx%d need %d", len(pixels), n, p.h, p.w, p.ch, n*in)
	}
	if len(dst) != n*out {
		return fmt.Errorf("output buffer holds %d bytes, %d images of %dx%dx%d need %d", len(dst), n, p.oh, p.ow, p.ch, n*out)
	}
	return forEach(ctx, n, workers, func(i int) {
		s := p.getScratch()
		p.image(pixels[i*in:(i+1)*in], dst[i*out:(i+1)*out], s)
		p.pool.Put(s)
	})
}
