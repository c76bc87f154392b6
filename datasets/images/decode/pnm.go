package decode

import (
	"bytes"
	"io"
	"math"
	"strconv"
)

// pnmHeader is what Pillow's PpmImagePlugin reads from a PBM, PGM or PPM
// header.
type pnmHeader struct {
	magic  byte // '1'..'6'
	w, h   int
	maxval int // 0 for bitmaps
	data   int64
}

func (p pnmHeader) plain() bool { return p.magic <= '3' }

// bands is the number of samples per pixel.
func (p pnmHeader) bands() int {
	if p.magic == '3' || p.magic == '6' {
		return 3
	}
	return 1
}

func pnmSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// parsePNM reads the header as PpmImageFile._open does: tokens separated by
// whitespace, '#' comments running to the end of the line (anywhere, even
// inside a token), at most 10 characters a token, and exactly one
// whitespace byte after the last token.
func parsePNM(r io.ReaderAt, size int64) (pnmHeader, error) {
	buf := make([]byte, min(size, 4096))
	n, err := r.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return pnmHeader{}, err
	}
	buf = buf[:n]
	pos := 0
	next := func() (byte, bool) {
		if pos >= len(buf) {
			pos++
			return 0, false
		}
		c := buf[pos]
		pos++
		return c, true
	}
	p := pnmHeader{magic: buf[1]}
	pos = 2
	if c, ok := next(); ok && !pnmSpace(c) {
		return pnmHeader{}, unsupportedf("PNM variant %q (Pillow's own extensions are not read)", buf[:min(len(buf), 6)])
	}
	token := func(what string) (int, error) {
		var t []byte
		for len(t) <= 10 {
			c, ok := next()
			if !ok {
				break
			}
			if pnmSpace(c) {
				if len(t) == 0 {
					continue
				}
				break
			}
			if c == '#' {
				for {
					c, ok := next()
					if !ok || c == '\r' || c == '\n' {
						break
					}
				}
				continue
			}
			t = append(t, c)
		}
		if len(t) == 0 {
			return 0, badf("truncated PNM: the file ends in its header, before the %s", what)
		}
		if len(t) > 10 {
			return 0, badf("corrupt PNM: a token longer than 10 characters in its header (%q)", t)
		}
		v, err := strconv.Atoi(string(t))
		if err != nil {
			return 0, badf("corrupt PNM: the %s is %q, not a number", what, t)
		}
		return v, nil
	}
	if p.w, err = token("width"); err != nil {
		return pnmHeader{}, err
	}
	if p.h, err = token("height"); err != nil {
		return pnmHeader{}, err
	}
	if p.magic != '1' && p.magic != '4' {
		if p.maxval, err = token("maximum value"); err != nil {
			return pnmHeader{}, err
		}
		if p.maxval <= 0 || p.maxval >= 65536 {
			return pnmHeader{}, badf("corrupt PNM: maximum value %d (it must be 1 to 65535)", p.maxval)
		}
	}
	p.data = int64(pos)
	return p, nil
}

// rawBytes is the size of the pixel data of a binary file.
func (p pnmHeader) rawBytes() int64 {
	if p.magic == '4' {
		return int64((p.w+7)/8) * int64(p.h)
	}
	n := int64(p.w) * int64(p.h) * int64(p.bands())
	if p.maxval > 255 {
		n *= 2
	}
	return n
}

func probePNM(r io.ReaderAt, size int64) (Header, error) {
	p, err := parsePNM(r, size)
	if err != nil {
		return Header{}, err
	}
	if err := checkSize(PNM, p.w, p.h); err != nil {
		return Header{}, err
	}
	if !p.plain() {
		if need := p.rawBytes(); p.data+need > size {
			return Header{}, badf("truncated PNM: its pixels need %d bytes from byte %d, the file has %d", need, p.data, size)
		}
	}
	return Header{Width: p.w, Height: p.h}, nil
}

// decodePNM decodes as Pillow 9.4 does: samples scaled by
// round(v / maxval * 255) (Python's round, half to even) unless maxval is
// 255; grey with maxval above 255 becomes mode I, scaled to 65535, which
// convert("RGB") clips to 255; bitmaps give 0 for 1 and 255 for 0.
func decodePNM(data, dst []byte, w, h int) error {
	p, err := parsePNM(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	if p.w != w || p.h != h {
		return badf("PNM is %dx%d, expected %dx%d (the file changed?)", p.w, p.h, w, h)
	}
	body := data[min(int(p.data), len(data)):]
	n := w * h
	switch {
	case p.magic == '4':
		rb := (w + 7) / 8
		if len(body) < rb*h {
			return badf("truncated PNM: %d of %d bytes of pixels", len(body), rb*h)
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := byte(255)
				if body[y*rb+x/8]&(0x80>>(x%8)) != 0 {
					v = 0
				}
				i := 3 * (y*w + x)
				dst[i], dst[i+1], dst[i+2] = v, v, v
			}
		}
		return nil
	case p.magic == '1':
		body = pnmStripComments(body)
		got := 0
		for _, c := range body {
			if got == n {
				break
			}
			if pnmSpace(c) {
				continue
			}
			if c != '0' && c != '1' {
				return badf("corrupt PBM: %q in its pixels (only 0 and 1 are allowed)", c)
			}
			v := byte(255)
			if c == '1' {
				v = 0
			}
			dst[3*got], dst[3*got+1], dst[3*got+2] = v, v, v
			got++
		}
		if got < n {
			return badf("corrupt PBM: %d of %d pixels (not enough image data)", got, n)
		}
		return nil
	}
	bands := p.bands()
	outMax := 255.0
	intMode := bands == 1 && p.maxval > 255 // Pillow's mode I
	if intMode {
		outMax = 65535
	}
	samples := make([]int, 0, n*bands)
	scale := func(v int) int {
		return int(math.RoundToEven(float64(v) / float64(p.maxval) * outMax))
	}
	if p.plain() {
		body = pnmStripComments(body)
		for _, t := range bytes.Fields(body) {
			if len(samples) == n*bands {
				break
			}
			if len(t) > 10 {
				return badf("corrupt PNM: a token longer than 10 characters in its pixels (%q)", t)
			}
			v, err := strconv.Atoi(string(t))
			if err != nil || v < 0 {
				return badf("corrupt PNM: %q in its pixels is not a sample value", t)
			}
			if v > p.maxval {
				return badf("corrupt PNM: sample value %d above the maximum %d", v, p.maxval)
			}
			samples = append(samples, scale(v))
		}
	} else {
		in := 1
		if p.maxval > 255 {
			in = 2
		}
		if len(body) < n*bands*in {
			return badf("truncated PNM: %d of %d bytes of pixels", len(body), n*bands*in)
		}
		for i := 0; i < n*bands; i++ {
			v := int(body[i])
			if in == 2 {
				v = int(body[2*i])<<8 | int(body[2*i+1])
			}
			switch {
			case p.maxval == 255:
				samples = append(samples, v)
			case intMode && p.maxval == 65535:
				samples = append(samples, v) // the raw I;16B path
			default:
				samples = append(samples, min(int(outMax), scale(v)))
			}
		}
	}
	if len(samples) < n*bands {
		return badf("corrupt PNM: %d of %d samples (not enough image data)", len(samples), n*bands)
	}
	clip := func(v int) byte { return byte(min(v, 255)) }
	for i := 0; i < n; i++ {
		if bands == 3 {
			dst[3*i], dst[3*i+1], dst[3*i+2] = clip(samples[3*i]), clip(samples[3*i+1]), clip(samples[3*i+2])
		} else {
			v := clip(samples[i])
			dst[3*i], dst[3*i+1], dst[3*i+2] = v, v, v
		}
	}
	return nil
}

// pnmStripComments removes '#' comments with the line end that closes
// them, as PpmPlainDecoder does (so "1#x\n2" reads as "12").
func pnmStripComments(b []byte) []byte {
	if bytes.IndexByte(b, '#') < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '#' {
			out = append(out, b[i])
			continue
		}
		for i < len(b) && b[i] != '\n' && b[i] != '\r' {
			i++
		}
	}
	return out
}
