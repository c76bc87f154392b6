package decode

import (
	"bytes"
	"encoding/binary"
	"io"
)

// bmpHeader is what Pillow's BmpImagePlugin._bitmap learns from a BMP.
type bmpHeader struct {
	w, h    int
	topDown bool
	bits    int // bits per pixel in the file
	mode    string
	rawmode string // Pillow's unpacker: how pixels are read
	palette []byte // BGR or BGRX entries (palette modes)
	padding int    // bytes per palette entry
	offset  int64  // of the pixel data
	rle     bool
	rle4    bool
}

const (
	bmpRaw       = 0
	bmpRLE8      = 1
	bmpRLE4      = 2
	bmpBitfields = 3
)

// bmpMaskModes are the bitfield layouts Pillow reads.
var bmpMaskModes = map[[5]uint32]string{
	{32, 0xFF0000, 0xFF00, 0xFF, 0x0}:        "BGRX",
	{32, 0xFF000000, 0xFF0000, 0xFF00, 0x0}:  "XBGR",
	{32, 0xFF000000, 0xFF0000, 0xFF00, 0xFF}: "ABGR",
	{32, 0xFF, 0xFF00, 0xFF0000, 0xFF000000}: "RGBA",
	{32, 0xFF0000, 0xFF00, 0xFF, 0xFF000000}: "BGRA",
	{32, 0x0, 0x0, 0x0, 0x0}:                 "BGRA",
	{24, 0xFF0000, 0xFF00, 0xFF, bmpMaskAny}: "BGR",
	{16, 0xF800, 0x7E0, 0x1F, bmpMaskAny}:    "BGR;16",
	{16, 0x7C00, 0x3E0, 0x1F, bmpMaskAny}:    "BGR;15",
}

// bmpBitModes are Pillow's mode and rawmode of an uncompressed BMP by its
// bits per pixel (BmpImagePlugin's BIT2MODE).
var bmpBitModes = map[int][2]string{
	1: {"P", "P;1"}, 4: {"P", "P;4"}, 8: {"P", "P"},
	16: {"RGB", "BGR;15"}, 24: {"RGB", "BGR"}, 32: {"RGB", "BGRX"},
}

// bmpMaskAny stands for the alpha mask, which Pillow ignores for 24 and
// 16 bits.
const bmpMaskAny = 0xFFFFFFFF

func parseBMP(r io.ReaderAt, size int64) (bmpHeader, error) {
	head, err := readAt(r, 0, 18, "BMP header")
	if err != nil {
		return bmpHeader{}, err
	}
	le := binary.LittleEndian
	offset := int64(le.Uint32(head[10:]))
	hsize := int64(le.Uint32(head[14:]))
	if hsize < 12 || hsize > 1<<16 {
		return bmpHeader{}, unsupportedf("BMP header of %d bytes", hsize)
	}
	hd, err := readAt(r, 18, int(hsize-4), "BMP header")
	if err != nil {
		return bmpHeader{}, err
	}
	pos := 18 + hsize - 4 // where Pillow's file pointer is
	var b bmpHeader
	compression := uint32(bmpRaw)
	var colors uint32
	var masks [4]uint32
	switch hsize {
	case 12: // OS/2 1.x
		b.w, b.h = int(le.Uint16(hd[0:])), int(le.Uint16(hd[2:]))
		b.bits = int(le.Uint16(hd[6:]))
		b.padding = 3
	case 40, 64, 108, 124:
		yflip := hd[7] == 0xFF
		b.topDown = yflip
		b.w = int(le.Uint32(hd[0:]))
		hv := le.Uint32(hd[4:])
		if yflip {
			b.h = int(uint64(1)<<32 - uint64(hv))
		} else {
			b.h = int(hv)
		}
		b.bits = int(le.Uint16(hd[10:]))
		compression = le.Uint32(hd[12:])
		colors = le.Uint32(hd[28:])
		b.padding = 4
		if compression == bmpBitfields {
			if len(hd) >= 52 {
				for i := range masks {
					masks[i] = le.Uint32(hd[36+4*i:])
				}
			} else {
				m, err := readAt(r, pos, 12, "BMP bitfield masks")
				if err != nil {
					return bmpHeader{}, err
				}
				pos += 12
				for i := range 3 {
					masks[i] = le.Uint32(m[4*i:])
				}
			}
		}
	default:
		return bmpHeader{}, unsupportedf("BMP header type of %d bytes", hsize)
	}
	if colors == 0 {
		if b.bits >= 32 {
			colors = 0 // 1 << 32 overflows; no palette is read for these depths
		} else {
			colors = 1 << b.bits
		}
	}
	if offset == 14+hsize && b.bits <= 8 {
		offset += 4 * int64(colors)
	}
	m, ok := bmpBitModes[b.bits]
	if !ok {
		return bmpHeader{}, unsupportedf("BMP with %d bits per pixel", b.bits)
	}
	b.mode, b.rawmode = m[0], m[1]
	switch compression {
	case bmpBitfields:
		key := [5]uint32{uint32(b.bits), masks[0], masks[1], masks[2], masks[3]}
		if b.bits != 32 {
			key[4] = bmpMaskAny
		}
		m, ok := bmpMaskModes[key]
		if !ok {
			return bmpHeader{}, unsupportedf("BMP bitfields layout (%d bits, masks %#x %#x %#x %#x)", b.bits, masks[0], masks[1], masks[2], masks[3])
		}
		b.rawmode = m
		if bytes.ContainsRune([]byte(m), 'A') {
			b.mode = "RGBA"
		}
	case bmpRaw:
	case bmpRLE8, bmpRLE4:
		b.rle, b.rle4 = true, compression == bmpRLE4
	default:
		return bmpHeader{}, unsupportedf("BMP compression %d (JPEG or PNG inside a BMP)", compression)
	}
	if b.mode == "P" {
		if colors == 0 || colors > 65536 {
			return bmpHeader{}, badf("corrupt BMP: a palette of %d colours", colors)
		}
		n := int64(b.padding) * int64(colors)
		pal := make([]byte, min(n, max(0, size-pos)))
		if len(pal) > 0 {
			if _, err := r.ReadAt(pal, pos); err != nil && err != io.EOF {
				return bmpHeader{}, err
			}
		}
		grey := true
		for i := 0; i < int(colors); i++ {
			want := byte(i)
			if colors == 2 {
				want = [2]byte{0, 255}[i]
			}
			e := pal[min(len(pal), i*b.padding):min(len(pal), i*b.padding+3)]
			if !bytes.Equal(e, []byte{want, want, want}) {
				grey = false
				break
			}
		}
		if grey {
			// Pillow drops a grey palette and reads the pixels as "1" or
			// "L", whatever the bit depth of the file.
			b.mode = "L"
			if colors == 2 {
				b.mode = "1"
			}
			b.rawmode = b.mode
		} else {
			b.palette = pal
		}
	}
	b.offset = offset
	if b.offset == 0 {
		b.offset = pos
	}
	return b, nil
}

// bmpRawBits is the bits per pixel of Pillow's unpacker for rawmode.
func bmpRawBits(rawmode string) int {
	switch rawmode {
	case "1", "P;1":
		return 1
	case "P;4":
		return 4
	case "P", "L":
		return 8
	case "BGR;15", "BGR;16":
		return 16
	case "BGR":
		return 24
	}
	return 32
}

func probeBMP(r io.ReaderAt, size int64) (Header, error) {
	b, err := parseBMP(r, size)
	if err != nil {
		return Header{}, err
	}
	if err := checkSize(BMP, b.w, b.h); err != nil {
		return Header{}, err
	}
	if b.rle {
		if b.mode == "1" {
			return Header{}, unsupportedf("run-length encoded BMP with a black-and-white palette (Pillow cannot read it)")
		}
		if b.offset >= size {
			return Header{}, badf("truncated BMP: its pixel data would start at byte %d, past the end (%d bytes)", b.offset, size)
		}
		return Header{Width: b.w, Height: b.h}, nil
	}
	stride := int64((b.w*b.bits+31)>>3) &^ 3
	row := (int64(b.w)*int64(bmpRawBits(b.rawmode)) + 7) / 8
	if row > stride {
		return Header{}, unsupportedf("BMP of %d bits per pixel with a palette Pillow reads as %s (Pillow cannot read it)", b.bits, b.rawmode)
	}
	if b.h > 0 {
		if need := b.offset + stride*int64(b.h-1) + row; need > size {
			return Header{}, badf("truncated BMP: its pixels need %d bytes from byte %d, the file has %d", stride*int64(b.h-1)+row, b.offset, size)
		}
	}
	return Header{Width: b.w, Height: b.h}, nil
}

// decodeBMP decodes a BMP as Pillow 9.4's BmpImagePlugin reads it.
func decodeBMP(data, dst []byte, w, h int) error {
	size := int64(len(data))
	b, err := parseBMP(bytes.NewReader(data), size)
	if err != nil {
		return err
	}
	if b.w != w || b.h != h {
		return badf("BMP is %dx%d, expected %dx%d (the file changed?)", b.w, b.h, w, h)
	}
	// The RGB of each palette index: Pillow's default palette is grey.
	var lut [256][3]byte
	for i := range lut {
		lut[i] = [3]byte{byte(i), byte(i), byte(i)}
	}
	for i := 0; i < 256 && (i+1)*b.padding <= len(b.palette); i++ {
		e := b.palette[i*b.padding:]
		lut[i] = [3]byte{e[2], e[1], e[0]}
	}
	var rows [][]byte // rows[y] for y in file order
	if b.rle {
		px, err := bmpRLE(data, b)
		if err != nil {
			return err
		}
		for y := 0; y < h; y++ {
			rows = append(rows, px[y*w:(y+1)*w])
		}
	} else {
		stride := ((b.w*b.bits + 31) >> 3) &^ 3
		row := (w*bmpRawBits(b.rawmode) + 7) / 8
		for y := 0; y < h; y++ {
			s := int(b.offset) + y*stride
			if s+row > len(data) {
				return badf("truncated BMP: the pixels end at row %d of %d", y, h)
			}
			rows = append(rows, data[s:s+row])
		}
	}
	for fy, src := range rows {
		y := fy
		if !b.topDown {
			y = h - 1 - fy
		}
		out := dst[y*w*3 : (y+1)*w*3]
		if b.rle {
			for x, v := range src {
				c := lut[v]
				out[3*x], out[3*x+1], out[3*x+2] = c[0], c[1], c[2]
			}
			continue
		}
		unpackBMPRow(out, src, w, b.rawmode, &lut)
	}
	return nil
}

func unpackBMPRow(out, src []byte, w int, rawmode string, lut *[256][3]byte) {
	put := func(x int, r, g, b byte) { out[3*x], out[3*x+1], out[3*x+2] = r, g, b }
	switch rawmode {
	case "1":
		for x := 0; x < w; x++ {
			v := byte(0)
			if src[x>>3]&(0x80>>(x&7)) != 0 {
				v = 255
			}
			put(x, v, v, v)
		}
	case "L":
		for x := 0; x < w; x++ {
			put(x, src[x], src[x], src[x])
		}
	case "P;1", "P;4", "P":
		for x := 0; x < w; x++ {
			var i byte
			switch rawmode {
			case "P;1":
				i = src[x>>3] >> (7 - x&7) & 1
			case "P;4":
				i = src[x>>1] >> (4 * (1 - x&1)) & 15
			default:
				i = src[x]
			}
			c := lut[i]
			put(x, c[0], c[1], c[2])
		}
	case "BGR;15":
		for x := 0; x < w; x++ {
			p := int(src[2*x]) | int(src[2*x+1])<<8
			put(x, byte((p>>10&31)*255/31), byte((p>>5&31)*255/31), byte((p&31)*255/31))
		}
	case "BGR;16":
		for x := 0; x < w; x++ {
			p := int(src[2*x]) | int(src[2*x+1])<<8
			put(x, byte((p>>11&31)*255/31), byte((p>>5&63)*255/63), byte((p&31)*255/31))
		}
	case "BGR":
		for x := 0; x < w; x++ {
			put(x, src[3*x+2], src[3*x+1], src[3*x])
		}
	case "BGRX", "BGRA":
		for x := 0; x < w; x++ {
			put(x, src[4*x+2], src[4*x+1], src[4*x])
		}
	case "XBGR", "ABGR":
		for x := 0; x < w; x++ {
			put(x, src[4*x+3], src[4*x+2], src[4*x+1])
		}
	case "RGBA":
		for x := 0; x < w; x++ {
			put(x, src[4*x], src[4*x+1], src[4*x+2])
		}
	}
}

// bmpRLE runs Pillow's BmpRleDecoder: one byte per pixel (an index, or a
// grey value), rows in file order; fewer than w*h pixels is an error, as
// in Pillow ("not enough image data").
func bmpRLE(data []byte, b bmpHeader) ([]byte, error) {
	w, h := b.w, b.h
	need := w * h
	out := make([]byte, 0, need)
	pos := int(b.offset)
	x := 0
	read := func(n int) []byte {
		s := data[min(pos, len(data)):min(pos+n, len(data))]
		pos += n
		return s
	}
	for len(out) < need {
		pb := read(2)
		if len(pb) < 2 {
			break
		}
		num, byt := int(pb[0]), pb[1]
		if num != 0 { // encoded run
			if x+num > w {
				num = max(0, w-x)
			}
			if b.rle4 {
				for i := 0; i < num; i++ {
					if i%2 == 0 {
						out = append(out, byt>>4)
					} else {
						out = append(out, byt&0x0F)
					}
				}
			} else {
				for i := 0; i < num; i++ {
					out = append(out, byt)
				}
			}
			x += num
			continue
		}
		switch byt {
		case 0: // end of line
			for len(out)%w != 0 {
				out = append(out, 0)
			}
			x = 0
		case 1: // end of bitmap
			goto done
		case 2: // delta
			// Pillow 9.4 reads the two bytes of the delta, then two more,
			// which it takes as the delta (fixed in later versions).
			if d := read(2); len(d) < 2 {
				goto done
			}
			d := read(2)
			if len(d) < 2 {
				goto done
			}
			n := int(d[0]) + int(d[1])*w
			for i := 0; i < n; i++ {
				out = append(out, 0)
			}
			x = len(out) % w
		default: // absolute run
			var got int
			count := int(byt)
			if b.rle4 {
				count = int(byt) / 2
				s := read(count)
				got = len(s)
				for _, v := range s {
					out = append(out, v>>4, v&0x0F)
				}
			} else {
				s := read(count)
				got = len(s)
				out = append(out, s...)
			}
			if got < count {
				goto done
			}
			x += int(byt)
			if pos%2 != 0 { // align to 16 bits, by file position
				pos++
			}
		}
	}
done:
	if len(out) < need {
		return nil, badf("corrupt BMP: its run-length data holds %d of %d pixels (not enough image data)", len(out), need)
	}
	return out[:need], nil
}
