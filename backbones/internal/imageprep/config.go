// Package imageprep resizes and centre-crops uint8 images exactly as
// torchvision 0.14 does to a PIL image with Pillow 9.4, and turns them into
// the normalised float32 tensors a vision backbone expects. The DINOv2 and
// TEMI pipeline it reproduces is
//
//	transforms.Compose([
//	    transforms.Resize(224, interpolation=InterpolationMode.BICUBIC),
//	    transforms.ToTensor(),
//	    transforms.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
//	])
//
// On a PIL image torchvision's Resize calls PIL.Image.resize (without
// reducing_gap, so Pillow never takes its reduce() shortcut), whose 8-bit
// bicubic and bilinear resampling (libImaging's Resample.c) works in fixed
// point with intermediate uint8 images, and whose nearest-neighbour
// resampling is Geometry.c's ImagingScaleAffine; this package reimplements
// them bit for bit, so the uint8 image after resizing is identical to PIL's
// and the final tensor identical to torchvision's (the float32 operations
// are the same ones, in the same order).
//
// Two kinds of plan apply a Config to images of one size: a Plan makes the
// normalised CHW tensors of the dinov2 backbone, a BytePlan the resized
// and cropped uint8 HWC images of the pixels backbone. The testdata
// directory holds the reference outputs and the scripts that made them.
package imageprep

import (
	"errors"
	"fmt"
)

// Filter is a resampling filter of PIL.Image.resize, as torchvision's
// InterpolationMode names it.
type Filter uint8

// The filters. Bicubic is the zero value, so that a Config without a filter
// means what this package always did (DINOv2's BICUBIC).
const (
	Bicubic  Filter = iota // PIL.Image.BICUBIC (Keys' cubic, a = -0.5), support 2
	Bilinear               // PIL.Image.BILINEAR (triangle), support 1
	Nearest                // PIL.Image.NEAREST (no filtering)
	numFilters
)

var filterNames = [numFilters]string{"bicubic", "bilinear", "nearest"}

// Filters lists the filter names ParseFilter accepts.
func Filters() []string { return filterNames[:] }

func (f Filter) String() string {
	if f < numFilters {
		return filterNames[f]
	}
	return fmt.Sprintf("filter(%d)", uint8(f))
}

// PIL is the Pillow constant the filter reproduces.
func (f Filter) PIL() string {
	switch f {
	case Bicubic:
		return "PIL.Image.BICUBIC"
	case Bilinear:
		return "PIL.Image.BILINEAR"
	case Nearest:
		return "PIL.Image.NEAREST"
	}
	return f.String()
}

// ParseFilter reads a filter name (bicubic, bilinear or nearest).
func ParseFilter(s string) (Filter, error) {
	for i, n := range filterNames {
		if s == n {
			return Filter(i), nil
		}
	}
	return 0, fmt.Errorf("unknown resampling filter %q; want one of %v", s, filterNames)
}

// Config describes one preprocessing pipeline: an optional resize (bicubic
// unless Filter says otherwise), an optional centre crop, then, for a
// Plan, ToTensor and Normalize. The zero value is invalid for a Plan (Std
// is zero); start from Default. A BytePlan reads only the sizes and the
// filter.
type Config struct {
	// Resize is the length the smaller edge is resized to, the longer edge
	// keeping the aspect ratio (torchvision Resize(int)). 0 leaves the size
	// alone unless Height and Width are set.
	Resize int
	// Height and Width, when both set, resize to exactly this size
	// (torchvision Resize((h, w))) and take precedence over Resize.
	Height, Width int
	// CenterCrop, when positive, cuts a CenterCrop x CenterCrop square from
	// the centre of the resized image, zero-padding where the image is
	// smaller (torchvision CenterCrop(int)). 0 means no crop.
	CenterCrop int
	// Filter is the resampling filter of the resize.
	Filter Filter
	// Mean and Std are Normalize's per-channel parameters, applied to the
	// values in [0, 1] that ToTensor produces. A BytePlan ignores them.
	Mean, Std [3]float32
}

// ImageNet normalisation constants, as used by DINOv2 and TEMI.
var (
	ImageNetMean = [3]float32{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// Default is the TEMI pipeline for DINOv2 features: smaller edge to 224,
// bicubic, no crop, ImageNet normalisation.
func Default() Config {
	return Config{Resize: 224, Mean: ImageNetMean, Std: ImageNetStd}
}

// Validate reports a configuration that cannot be applied by a Plan.
func (c Config) Validate() error {
	errs := c.geometryErrors()
	for i, s := range c.Std {
		if !(s > 0 || s < 0) { // also catches NaN
			errs = append(errs, fmt.Errorf("std[%d]=%v: every std must be non-zero (ImageNet's are %v)", i, s, ImageNetStd))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("preprocess config: %w", errors.Join(errs...))
	}
	return nil
}

// validateGeometry reports a configuration that cannot be applied by a
// BytePlan: the sizes and the filter, not the normalisation.
func (c Config) validateGeometry() error {
	if errs := c.geometryErrors(); len(errs) > 0 {
		return fmt.Errorf("resize config: %w", errors.Join(errs...))
	}
	return nil
}

func (c Config) geometryErrors() []error {
	var errs []error
	if c.Resize < 0 || c.Height < 0 || c.Width < 0 || c.CenterCrop < 0 {
		errs = append(errs, fmt.Errorf("negative size in resize=%d height=%d width=%d center_crop=%d", c.Resize, c.Height, c.Width, c.CenterCrop))
	}
	if (c.Height > 0) != (c.Width > 0) {
		errs = append(errs, fmt.Errorf("height=%d width=%d: set both for an explicit size, or neither and use resize for the smaller edge", c.Height, c.Width))
	}
	if c.Filter >= numFilters {
		errs = append(errs, fmt.Errorf("%v: want one of %v", c.Filter, filterNames))
	}
	return errs
}

// ResizedSize is the size an h x w image has after the resize step, computed
// as torchvision 0.14's _compute_resized_output_size does: the long edge is
// int(size * long / short), a float64 division truncated.
func (c Config) ResizedSize(h, w int) (rh, rw int) {
	switch {
	case c.Height > 0 && c.Width > 0:
		return c.Height, c.Width
	case c.Resize > 0:
		short, long := h, w
		if w <= h {
			short, long = w, h
		}
		newLong := int(float64(c.Resize*long) / float64(short))
		if w <= h {
			return newLong, c.Resize
		}
		return c.Resize, newLong
	default:
		return h, w
	}
}

// OutputSize is the spatial size of the tensor an h x w image becomes.
func (c Config) OutputSize(h, w int) (oh, ow int) {
	if c.CenterCrop > 0 {
		return c.CenterCrop, c.CenterCrop
	}
	return c.ResizedSize(h, w)
}

// String describes the pipeline canonically; backbones put it in their
// identity so that cached embeddings change when the preprocessing does.
// (For the bicubic filter it reads as it did before filters could be
// chosen, "pil9-bicubic ...": dinov2 identities stay the same.)
func (c Config) String() string {
	resize := "none"
	switch {
	case c.Height > 0 && c.Width > 0:
		resize = fmt.Sprintf("%dx%d", c.Height, c.Width)
	case c.Resize > 0:
		resize = fmt.Sprintf("short%d", c.Resize)
	}
	return fmt.Sprintf("pil9-%s resize=%s crop=%d mean=%v,%v,%v std=%v,%v,%v",
		c.Filter, resize, c.CenterCrop, c.Mean[0], c.Mean[1], c.Mean[2], c.Std[0], c.Std[1], c.Std[2])
}

// cropWindow places a crop of length crop on an axis of length size as
// torchvision's center_crop does: when the crop is longer, the axis is
// zero-padded by (crop-size)/2 before (the rest after); otherwise the crop
// starts at round((size-crop)/2) with Python's round, which rounds halves to
// even. It returns the offset of the crop's first pixel on the axis
// (negative when padded).
func cropWindow(size, crop int) int {
	if crop > size {
		return -((crop - size) / 2)
	}
	d := size - crop
	off := d / 2
	if d%2 == 1 && off%2 == 1 { // (d/2)+0.5 rounds up only to an even number
		off++
	}
	return off
}
