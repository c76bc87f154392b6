package decode

import "fmt"

// Image is a decoded image: Height rows of Width pixels, 3 bytes (R, G, B)
// each.
type Image struct {
	Width, Height int
	Pix           []byte
}

// Decode decodes a whole image file held in data to RGB, exactly as
// Pillow 9.4's Image.open(f).convert("RGB") does (see the package
// documentation for what that means per format).
func Decode(data []byte) (Image, error) {
	h, err := ProbeBytes(data)
	if err != nil {
		return Image{}, err
	}
	img := Image{Width: h.Width, Height: h.Height, Pix: make([]byte, h.Width*h.Height*3)}
	if err := DecodeInto(data, img.Pix, h.Width, h.Height); err != nil {
		return Image{}, err
	}
	return img, nil
}

// DecodeInto decodes the image file held in data into dst, which must hold
// w*h*3 bytes for the w x h that Probe reported. A file whose size differs
// from w x h (it changed since) is an error.
func DecodeInto(data, dst []byte, w, h int) error {
	if len(dst) != w*h*3 {
		return fmt.Errorf("decode: a buffer of %d bytes for a %dx%d RGB image", len(dst), w, h)
	}
	f, err := sniff(data[:min(len(data), sniffLen)])
	if err != nil {
		return err
	}
	c, ok := codecs[f]
	if !ok {
		return fmt.Errorf("decode: no decoder for %s", f)
	}
	return c.decode(data, dst, w, h)
}
