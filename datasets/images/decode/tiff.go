package decode

import (
	"bytes"
	"compress/zlib"
	"errors"
	"io"
	"math"
	"math/bits"

	"golang.org/x/image/tiff/lzw"
)

// decodeTIFF decodes the first image of a TIFF as Pillow 9.4 reads it
// (the uncompressed path of TiffImagePlugin, libtiff for LZW, deflate and
// PackBits), converts its mode to RGB as convert("RGB") does and applies
// the orientation tag, which Pillow applies to TIFF (only) on load.
func decodeTIFF(data, dst []byte, w, h int) error {
	t, err := parseTIFF(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	if ow, oh := t.outSize(); ow != w || oh != h {
		return badf("TIFF is %dx%d, expected %dx%d (the file changed?)", ow, oh, w, h)
	}
	planes := 1
	if t.planar == 2 {
		planes = t.spp
		if t.bps[0]%8 != 0 {
			return unsupportedf("TIFF with separate planes of %d-bit samples", t.bps[0])
		}
		if t.compression == tiffRaw && t.bps[0] != 8 {
			// Pillow's own (uncompressed) path reads each plane with an
			// 8-bit band unpacker: garbage.
			return unsupportedf("uncompressed TIFF with separate planes of %d-bit samples (Pillow 9.4 misreads them)", t.bps[0])
		}
	}
	bpp := t.bitsPerPixel()
	rowBytes := (t.w*bpp + 7) / 8
	buf := make([][]byte, planes)
	for p := range buf {
		buf[p] = make([]byte, rowBytes*t.h)
	}
	across, down := (t.w+t.tileW-1)/t.tileW, (t.h+t.tileH-1)/t.tileH
	chunkRow := (t.tileW*bpp + 7) / 8
	for i := 0; i < t.chunks(); i++ {
		plane, j := i/(across*down), i%(across*down)
		tx, ty := j%across, j/across
		rows := t.chunkRows(i)
		off, n := t.chunkRange(i)
		if off+n > uint64(len(data)) || off > off+n {
			return badf("truncated TIFF: strip or tile %d ends at byte %d, the file has %d", i, off+n, len(data))
		}
		raw := data[off : off+n]
		if t.fillOrder == 2 {
			rev := make([]byte, len(raw))
			for k, v := range raw {
				rev[k] = bits.Reverse8(v)
			}
			raw = rev
		}
		chunk, err := t.decompress(raw, chunkRow*rows)
		if err != nil {
			return badf("corrupt TIFF: strip or tile %d: %v", i, err)
		}
		if t.predictor == tiffPredictHorz && (t.compression == tiffLZW || t.compression == tiffAdobeZip || t.compression == tiffDeflate) {
			if err := t.undoPredictor(chunk, chunkRow, rows); err != nil {
				return err
			}
		}
		x0, y0 := tx*t.tileW, ty*t.tileH
		cols := min(t.tileW, t.w-x0)
		colBytes := (cols*bpp + 7) / 8
		for r := 0; r < rows && y0+r < t.h; r++ {
			copy(buf[plane][(y0+r)*rowBytes+x0*bpp/8:][:colBytes], chunk[r*chunkRow:][:colBytes])
		}
	}
	img := buf[0]
	if planes > 1 { // interleave the planes
		sb := t.bps[0] / 8
		img = make([]byte, rowBytes*t.h*planes)
		for k := 0; k < t.w*t.h; k++ {
			for p := 0; p < planes; p++ {
				copy(img[(k*planes+p)*sb:][:sb], buf[p][k*sb:][:sb])
			}
		}
		rowBytes *= planes
	}
	rgb := dst
	if t.orientation >= 2 && t.orientation <= 8 {
		rgb = make([]byte, t.w*t.h*3)
	}
	var lut [256][3]byte
	if t.colormap != nil {
		n := 1 << t.bps[0]
		for i := 0; i < n && i < 256; i++ {
			lut[i] = [3]byte{byte(t.colormap[i] / 256), byte(t.colormap[n+i] / 256), byte(t.colormap[2*n+i] / 256)}
		}
	}
	for y := 0; y < t.h; y++ {
		if err := t.unpackRow(rgb[y*t.w*3:(y+1)*t.w*3], img[y*rowBytes:(y+1)*rowBytes], &lut); err != nil {
			return err
		}
	}
	if rgb != nil && &rgb[0] != &dst[0] {
		orient(dst, rgb, t.w, t.h, t.orientation)
	}
	return nil
}

// decompress returns the n bytes of a strip or tile.
func (t *tiffIFD) decompress(raw []byte, n int) ([]byte, error) {
	var r io.Reader
	switch t.compression {
	case tiffRaw:
		if len(raw) < n {
			return nil, errors.New("not enough data")
		}
		return raw[:n], nil
	case tiffLZW:
		lr := lzw.NewReader(bytes.NewReader(raw), lzw.MSB, 8)
		defer lr.Close()
		r = lr
	case tiffAdobeZip, tiffDeflate:
		zr, err := zlib.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	case tiffPackBits:
		return unpackBits(raw, n)
	}
	out := make([]byte, n)
	if got, err := io.ReadFull(r, out); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, errors.New("not enough data: " + plural(got, "byte", "bytes") + " of " + plural(n, "", ""))
		}
		return nil, err
	}
	return out, nil
}

// unpackBits decodes PackBits into n bytes.
func unpackBits(src []byte, n int) ([]byte, error) {
	out := make([]byte, 0, n)
	for i := 0; len(out) < n; {
		if i >= len(src) {
			return nil, errors.New("not enough PackBits data")
		}
		c := int(int8(src[i]))
		i++
		switch {
		case c >= 0:
			if i+c+1 > len(src) {
				return nil, errors.New("not enough PackBits data")
			}
			out = append(out, src[i:i+c+1]...)
			i += c + 1
		case c != -128:
			if i >= len(src) {
				return nil, errors.New("not enough PackBits data")
			}
			for k := 0; k < 1-c; k++ {
				out = append(out, src[i])
			}
			i++
		}
	}
	return out[:n], nil
}

// undoPredictor reverses horizontal differencing (libtiff's predictor 2)
// on rows of samples in the file's byte order.
func (t *tiffIFD) undoPredictor(chunk []byte, rowBytes, rows int) error {
	stride := t.spp // samples between a sample and its left neighbour
	if t.planar == 2 {
		stride = 1
	}
	b := t.bps[0]
	for _, x := range t.bps {
		if x != b {
			return unsupportedf("TIFF predictor with samples of different sizes")
		}
	}
	for r := 0; r < rows; r++ {
		row := chunk[r*rowBytes : (r+1)*rowBytes]
		switch b {
		case 8:
			for k := stride; k < len(row); k++ {
				row[k] += row[k-stride]
			}
		case 16:
			for k := stride; k < len(row)/2; k++ {
				t.order.PutUint16(row[2*k:], t.order.Uint16(row[2*k:])+t.order.Uint16(row[2*(k-stride):]))
			}
		case 32:
			for k := stride; k < len(row)/4; k++ {
				t.order.PutUint32(row[4*k:], t.order.Uint32(row[4*k:])+t.order.Uint32(row[4*(k-stride):]))
			}
		default:
			return unsupportedf("TIFF predictor with %d-bit samples (libtiff refuses it)", b)
		}
	}
	return nil
}

// unpackRow converts one row of samples to RGB as Pillow's unpacker for
// the rawmode and convert("RGB") for the mode do.
func (t *tiffIFD) unpackRow(out, in []byte, lut *[256][3]byte) error {
	w := t.w
	put := func(x int, r, g, b byte) { out[3*x], out[3*x+1], out[3*x+2] = r, g, b }
	grey := func(x int, v byte) { out[3*x], out[3*x+1], out[3*x+2] = v, v, v }
	bitsAt := func(x, n int) int { // the x-th n-bit field, most significant bit first
		bit := x * n
		return int(in[bit/8]>>(8-n-bit%8)) & (1<<n - 1)
	}
	o := t.order
	// Pillow's unpackers read the fill-order-1 layout; the bits were
	// reversed beforehand for fill order 2.
	raw := t.rawmode
	if t.fillOrder == 2 && raw[len(raw)-1] == 'R' {
		raw = raw[:len(raw)-1]
		if raw[len(raw)-1] == ';' {
			raw = raw[:len(raw)-1]
		}
	}
	switch raw {
	case "1":
		for x := 0; x < w; x++ {
			grey(x, byte(bitsAt(x, 1)*255))
		}
	case "1;I":
		for x := 0; x < w; x++ {
			grey(x, byte((1-bitsAt(x, 1))*255))
		}
	case "L;2":
		for x := 0; x < w; x++ {
			grey(x, byte(bitsAt(x, 2)*0x55))
		}
	case "L;2I":
		for x := 0; x < w; x++ {
			grey(x, 255-byte(bitsAt(x, 2)*0x55))
		}
	case "L;4":
		for x := 0; x < w; x++ {
			grey(x, byte(bitsAt(x, 4)*0x11))
		}
	case "L;4I":
		for x := 0; x < w; x++ {
			grey(x, 255-byte(bitsAt(x, 4)*0x11))
		}
	case "L":
		for x := 0; x < w; x++ {
			grey(x, in[x])
		}
	case "L;I":
		for x := 0; x < w; x++ {
			grey(x, 255-in[x])
		}
	case "P;1", "P;2", "P;4", "P":
		n := t.bps[0]
		for x := 0; x < w; x++ {
			c := lut[bitsAt(x, n)]
			put(x, c[0], c[1], c[2])
		}
	case "PA":
		for x := 0; x < w; x++ {
			c := lut[in[2*x]]
			put(x, c[0], c[1], c[2])
		}
	case "LA":
		for x := 0; x < w; x++ {
			grey(x, in[2*x])
		}
	case "I;16", "I;16B": // unsigned 16-bit: clipped to 255
		for x := 0; x < w; x++ {
			grey(x, byte(min(int(o.Uint16(in[2*x:])), 255)))
		}
	case "I;16S", "I;16BS":
		for x := 0; x < w; x++ {
			grey(x, clipInt(int64(int16(o.Uint16(in[2*x:])))))
		}
	case "I;32N":
		for x := 0; x < w; x++ {
			// Pillow reads these unsigned samples as signed 32-bit.
			grey(x, clipInt(int64(int32(o.Uint32(in[4*x:])))))
		}
	case "I;32S", "I;32BS":
		for x := 0; x < w; x++ {
			grey(x, clipInt(int64(int32(o.Uint32(in[4*x:])))))
		}
	case "F;32F", "F;32BF":
		for x := 0; x < w; x++ {
			grey(x, clipFloat(math.Float32frombits(o.Uint32(in[4*x:]))))
		}
	case "RGB", "RGBX", "RGBXX", "RGBXXX", "RGBA", "RGBAX", "RGBAXX":
		n := t.spp
		for x := 0; x < w; x++ {
			put(x, in[n*x], in[n*x+1], in[n*x+2])
		}
	case "RGBa", "RGBaX", "RGBaXX":
		n := t.spp
		for x := 0; x < w; x++ {
			p := in[n*x:]
			r, g, b := unpremultiply(p[0], p[1], p[2], p[3])
			put(x, r, g, b)
		}
	case "RGB;16", "RGBA;16", "RGBX;16", "RGBa;16":
		n := t.spp
		hi := func(k int) byte { return byte(o.Uint16(in[2*k:]) >> 8) }
		for x := 0; x < w; x++ {
			if raw == "RGBa;16" {
				r, g, b := unpremultiply(hi(n*x), hi(n*x+1), hi(n*x+2), hi(n*x+3))
				put(x, r, g, b)
			} else {
				put(x, hi(n*x), hi(n*x+1), hi(n*x+2))
			}
		}
	case "CMYK", "CMYKX", "CMYKXX":
		n := t.spp
		for x := 0; x < w; x++ {
			r, g, b := cmykToRGB(in[n*x], in[n*x+1], in[n*x+2], in[n*x+3])
			put(x, r, g, b)
		}
	case "CMYK;16":
		for x := 0; x < w; x++ {
			hi := func(k int) byte { return byte(o.Uint16(in[2*(4*x+k):]) >> 8) }
			r, g, b := cmykToRGB(hi(0), hi(1), hi(2), hi(3))
			put(x, r, g, b)
		}
	default:
		return unsupportedf("TIFF rawmode %s", t.rawmode)
	}
	return nil
}

// unpremultiply is Pillow's unpackRGBa: premultiplied alpha undone, with
// every channel 0 where alpha is 0.
func unpremultiply(r, g, b, a byte) (byte, byte, byte) {
	switch a {
	case 0:
		return 0, 0, 0
	case 255:
		return r, g, b
	}
	f := func(c byte) byte { return byte(min(int(c)*255/int(a), 255)) }
	return f(r), f(g), f(b)
}

// cmykToRGB is Pillow's cmyk2rgb.
func cmykToRGB(c, m, y, k byte) (byte, byte, byte) {
	nk := 255 - int(k)
	f := func(v byte) byte {
		t := int(v)*nk + 128
		return byte(max(0, min(255, nk-((t>>8)+t)>>8)))
	}
	return f(c), f(m), f(y)
}

// clipInt is Pillow's I -> RGB: values clipped to 0..255.
func clipInt(v int64) byte { return byte(max(0, min(255, v))) }

// clipFloat is Pillow's F -> RGB: clipped to 0..255 and truncated.
func clipFloat(v float32) byte {
	switch {
	case v <= 0 || v != v:
		return 0
	case v >= 255:
		return 255
	}
	return byte(v)
}

// orient applies the TIFF orientation o (2..8) to the w x h image src as
// Pillow's transpose does, into dst.
func orient(dst, src []byte, w, h, o int) {
	ow := w
	if o >= 5 {
		ow = h
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int // where source pixel (x, y) goes
			switch o {
			case 2: // FLIP_LEFT_RIGHT
				dx, dy = w-1-x, y
			case 3: // ROTATE_180
				dx, dy = w-1-x, h-1-y
			case 4: // FLIP_TOP_BOTTOM
				dx, dy = x, h-1-y
			case 5: // TRANSPOSE
				dx, dy = y, x
			case 6: // ROTATE_270 (clockwise)
				dx, dy = h-1-y, x
			case 7: // TRANSVERSE
				dx, dy = h-1-y, w-1-x
			case 8: // ROTATE_90 (counter-clockwise)
				dx, dy = y, w-1-x
			}
			s, d := 3*(y*w+x), 3*(dy*ow+dx)
			dst[d], dst[d+1], dst[d+2] = src[s], src[s+1], src[s+2]
		}
	}
}
