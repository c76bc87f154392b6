package decode

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
)

// pngModes are the (bit depth, colour type) pairs Pillow's PngImagePlugin
// reads, with the mode it gives them.
var pngModes = map[[2]byte]string{
	{1, 0}: "1", {2, 0}: "L", {4, 0}: "L", {8, 0}: "L", {16, 0}: "I",
	{8, 2}: "RGB", {16, 2}: "RGB",
	{1, 3}: "P", {2, 3}: "P", {4, 3}: "P", {8, 3}: "P",
	{8, 4}: "LA", {16, 4}: "RGBA",
	{8, 6}: "RGBA", {16, 6}: "RGBA",
}

var pngIEND = []byte{0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82}

type pngHeader struct {
	w, h             int
	depth, colorType byte
}

func parsePNGHeader(r io.ReaderAt) (pngHeader, error) {
	b, err := readAt(r, 8, 25, "PNG header (IHDR)")
	if err != nil {
		return pngHeader{}, err
	}
	if string(b[4:8]) != "IHDR" || binary.BigEndian.Uint32(b) != 13 {
		return pngHeader{}, badf("corrupt PNG: the first chunk is %q, not a 13-byte IHDR", b[4:8])
	}
	p := pngHeader{
		w: int(binary.BigEndian.Uint32(b[8:])), h: int(binary.BigEndian.Uint32(b[12:])),
		depth: b[16], colorType: b[17],
	}
	if _, ok := pngModes[[2]byte{p.depth, p.colorType}]; !ok {
		return pngHeader{}, badf("corrupt PNG: bit depth %d with colour type %d is not a valid combination", p.depth, p.colorType)
	}
	if b[20] > 1 {
		return pngHeader{}, unsupportedf("PNG with interlace method %d", b[20])
	}
	return p, nil
}

// probePNG reads the IHDR chunk and checks that the file ends with an
// IEND chunk, or, when something follows it, that the chunks lead to one.
func probePNG(r io.ReaderAt, size int64) (Header, error) {
	p, err := parsePNGHeader(r)
	if err != nil {
		return Header{}, err
	}
	if err := checkSize(PNG, p.w, p.h); err != nil {
		return Header{}, err
	}
	if size >= 8+25+12 {
		tail, err := readAt(r, size-12, 12, "PNG")
		if err != nil {
			return Header{}, err
		}
		if bytes.Equal(tail, pngIEND) {
			return Header{Width: p.w, Height: p.h}, nil
		}
	}
	// Walk the chunks: each header says how long the chunk is.
	off := int64(8)
	sawIDAT := false
	for {
		if off+12 > size {
			if sawIDAT {
				return Header{}, badf("truncated PNG: no IEND chunk after the image data (the file ends at byte %d)", size)
			}
			return Header{}, badf("truncated PNG: the file ends before the image data (IDAT)")
		}
		b, err := readAt(r, off, 8, "PNG chunk header")
		if err != nil {
			return Header{}, err
		}
		n := int64(binary.BigEndian.Uint32(b))
		typ := string(b[4:8])
		if off+12+n > size {
			return Header{}, badf("truncated PNG: its %s chunk at byte %d holds %d bytes but the file ends at byte %d", typ, off, n, size)
		}
		switch typ {
		case "IDAT":
			sawIDAT = true
		case "IEND":
			if !sawIDAT {
				return Header{}, badf("corrupt PNG: no image data (IDAT) before IEND")
			}
			return Header{Width: p.w, Height: p.h}, nil
		}
		off += 12 + n
	}
}

// decodePNG decodes a PNG with Go's image/png and converts its pixels to
// RGB as Pillow's convert("RGB") converts the mode PngImagePlugin gives:
// 16-bit samples keep their high byte, except 16-bit grey (mode I), which
// Pillow clips to 0..255; palette indices past the PLTE entries give
// grey (i, i, i), Pillow's default palette; alpha and tRNS are dropped.
func decodePNG(data, dst []byte, w, h int) error {
	r := bytes.NewReader(data)
	p, err := parsePNGHeader(r)
	if err != nil {
		return err
	}
	if p.w != w || p.h != h {
		return badf("PNG is %dx%d, expected %dx%d (the file changed?)", p.w, p.h, w, h)
	}
	img, err := png.Decode(r)
	if err != nil {
		return badf("corrupt PNG: %s", trimPrefix(err.Error(), "png: "))
	}
	b := img.Bounds()
	if b.Dx() != w || b.Dy() != h {
		return badf("PNG decoded to %dx%d, expected %dx%d", b.Dx(), b.Dy(), w, h)
	}
	grey16 := p.depth == 16 && p.colorType == 0
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			out := dst[y*w*3:]
			for x, v := range row {
				out[3*x], out[3*x+1], out[3*x+2] = v, v, v
			}
		}
	case *image.Gray16:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+2*w]
			out := dst[y*w*3:]
			for x := 0; x < w; x++ {
				v := clip16(row[2*x], row[2*x+1])
				out[3*x], out[3*x+1], out[3*x+2] = v, v, v
			}
		}
	case *image.RGBA: // 8-bit RGB without tRNS: alpha is 255
		copyRGB(dst, m.Pix, m.Stride, w, h, 4)
	case *image.NRGBA:
		copyRGB(dst, m.Pix, m.Stride, w, h, 4)
	case *image.RGBA64: // 16-bit RGB without tRNS
		copyRGB16(dst, m.Pix, m.Stride, w, h, grey16)
	case *image.NRGBA64:
		copyRGB16(dst, m.Pix, m.Stride, w, h, grey16)
	case *image.Paletted:
		n, err := pngPaletteLen(data)
		if err != nil {
			return err
		}
		var lut [256][3]byte
		for i := range lut {
			lut[i] = [3]byte{byte(i), byte(i), byte(i)}
		}
		for i, c := range m.Palette {
			if i >= n || i >= 256 {
				break
			}
			switch c := c.(type) {
			case color.RGBA:
				lut[i] = [3]byte{c.R, c.G, c.B}
			case color.NRGBA:
				lut[i] = [3]byte{c.R, c.G, c.B}
			default:
				return fmt.Errorf("decode PNG: palette colour of type %T", c)
			}
		}
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			out := dst[y*w*3:]
			for x, v := range row {
				c := lut[v]
				out[3*x], out[3*x+1], out[3*x+2] = c[0], c[1], c[2]
			}
		}
	default:
		return fmt.Errorf("decode PNG: image/png gave a %T", img)
	}
	return nil
}

// pngPaletteLen returns the number of entries of the PLTE chunk.
func pngPaletteLen(data []byte) (int, error) {
	off := 8
	for off+8 <= len(data) {
		n := int(binary.BigEndian.Uint32(data[off:]))
		typ := string(data[off+4 : off+8])
		if typ == "PLTE" {
			return n / 3, nil
		}
		if typ == "IDAT" || n < 0 || off+12+n > len(data) {
			break
		}
		off += 12 + n
	}
	return 0, badf("corrupt PNG: a palette image without a PLTE chunk")
}

// clip16 is Pillow's I -> RGB conversion of a big-endian 16-bit sample:
// values above 255 become 255.
func clip16(hi, lo byte) byte {
	if hi != 0 {
		return 255
	}
	return lo
}

// copyRGB copies the first three of every n bytes per pixel.
func copyRGB(dst, pix []byte, stride, w, h, n int) {
	for y := 0; y < h; y++ {
		row := pix[y*stride : y*stride+n*w]
		out := dst[y*w*3 : (y+1)*w*3]
		for x := 0; x < w; x++ {
			out[3*x], out[3*x+1], out[3*x+2] = row[n*x], row[n*x+1], row[n*x+2]
		}
	}
}

// copyRGB16 converts 16-bit big-endian RGBA pixels: the high byte of each
// sample (Pillow's RGB;16B and RGBA;16B unpackers), or, for grey (mode I),
// the sample clipped to 255.
func copyRGB16(dst, pix []byte, stride, w, h int, grey bool) {
	for y := 0; y < h; y++ {
		row := pix[y*stride : y*stride+8*w]
		out := dst[y*w*3 : (y+1)*w*3]
		for x := 0; x < w; x++ {
			p := row[8*x:]
			if grey {
				v := clip16(p[0], p[1])
				out[3*x], out[3*x+1], out[3*x+2] = v, v, v
			} else {
				out[3*x], out[3*x+1], out[3*x+2] = p[0], p[2], p[4]
			}
		}
	}
}

func trimPrefix(s, p string) string {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
