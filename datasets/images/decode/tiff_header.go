package decode

import (
	"encoding/binary"
	"fmt"
	"io"
)

// TIFF tags the package reads.
const (
	tImageWidth       = 256
	tImageLength      = 257
	tBitsPerSample    = 258
	tCompression      = 259
	tPhotometric      = 262
	tFillOrder        = 266
	tStripOffsets     = 273
	tOrientation      = 274
	tSamplesPerPixel  = 277
	tRowsPerStrip     = 278
	tStripByteCounts  = 279
	tPlanarConfig     = 284
	tPredictor        = 317
	tColorMap         = 320
	tTileWidth        = 322
	tTileLength       = 323
	tTileOffsets      = 324
	tTileByteCounts   = 325
	tExtraSamples     = 338
	tSampleFormat     = 339
	tWindowsMediaPhot = 0xBC01
)

// TIFF compressions the package decodes (Pillow's names).
const (
	tiffRaw         = 1
	tiffLZW         = 5
	tiffAdobeZip    = 8
	tiffPackBits    = 32773
	tiffDeflate     = 32946
	tiffOldJPEG     = 6
	tiffNewJPEG     = 7
	tiffPredictHorz = 2
)

var tiffCompressionNames = map[int]string{
	1: "raw", 2: "CCITT RLE", 3: "CCITT group 3", 4: "CCITT group 4", 5: "LZW", 6: "old JPEG", 7: "JPEG",
	8: "Adobe deflate", 32771: "CCITT RLE-W", 32773: "PackBits", 32809: "ThunderScan", 32946: "deflate",
	34676: "SGI LogLuv", 34677: "SGI LogLuv 24", 34925: "LZMA", 50000: "Zstandard", 50001: "WebP",
}

// tiffIFD is the first image of a TIFF as Pillow's TiffImagePlugin._setup
// reads it.
type tiffIFD struct {
	order        binary.ByteOrder
	bigEndian    bool
	w, h         int
	photo        int
	compression  int
	planar       int
	fillOrder    int
	predictor    int
	orientation  int
	bps          []int
	spp          int
	extra        []int
	sampleFormat []int
	tiled        bool
	tileW, tileH int // the strip size for strips: w x RowsPerStrip
	offsets      []uint64
	counts       []uint64
	colormap     []int
	mode         string
	rawmode      string
}

type tiffKey struct {
	mm    bool
	photo int
	sf    string
	fill  int
	bps   string
	extra string
}

func ints(v []int) string { return fmt.Sprint(v) }

// tiffOpenInfo is Pillow 9.4's OPEN_INFO, less the modes the package does
// not decode (12-bit grey, YCbCr, LAB): (photometric, sample format, fill
// order, bits per sample, extra samples) => mode, rawmode. Byte order is
// handled by the sample readers; the entries whose rawmode depends on it
// are listed twice.
var tiffOpenInfo = map[tiffKey][2]string{}

func init() {
	add := func(mm []bool, photo int, sf []int, fill int, bps []int, extra []int, mode, raw string) {
		for _, m := range mm {
			tiffOpenInfo[tiffKey{m, photo, ints(sf), fill, ints(bps), ints(extra)}] = [2]string{mode, raw}
		}
	}
	both := []bool{false, true}
	ii, mm := []bool{false}, []bool{true}
	u := []int{1}
	none := []int{}
	for _, e := range []struct {
		photo, fill int
		bps         []int
		mode, raw   string
	}{
		{0, 1, []int{1}, "1", "1;I"}, {0, 2, []int{1}, "1", "1;IR"},
		{1, 1, []int{1}, "1", "1"}, {1, 2, []int{1}, "1", "1;R"},
		{0, 1, []int{2}, "L", "L;2I"}, {0, 2, []int{2}, "L", "L;2IR"},
		{1, 1, []int{2}, "L", "L;2"}, {1, 2, []int{2}, "L", "L;2R"},
		{0, 1, []int{4}, "L", "L;4I"}, {0, 2, []int{4}, "L", "L;4IR"},
		{1, 1, []int{4}, "L", "L;4"}, {1, 2, []int{4}, "L", "L;4R"},
		{0, 1, []int{8}, "L", "L;I"}, {0, 2, []int{8}, "L", "L;IR"},
		{1, 1, []int{8}, "L", "L"}, {1, 2, []int{8}, "L", "L;R"},
		{2, 1, []int{8, 8, 8}, "RGB", "RGB"}, {2, 2, []int{8, 8, 8}, "RGB", "RGB;R"},
		{2, 1, []int{8, 8, 8, 8}, "RGBA", "RGBA"},
		{3, 1, []int{1}, "P", "P;1"}, {3, 2, []int{1}, "P", "P;1R"},
		{3, 1, []int{2}, "P", "P;2"}, {3, 2, []int{2}, "P", "P;2R"},
		{3, 1, []int{4}, "P", "P;4"}, {3, 2, []int{4}, "P", "P;4R"},
		{3, 1, []int{8}, "P", "P"}, {3, 2, []int{8}, "P", "P;R"},
		{5, 1, []int{8, 8, 8, 8}, "CMYK", "CMYK"},
	} {
		add(both, e.photo, u, e.fill, e.bps, none, e.mode, e.raw)
	}
	add(ii, 0, u, 1, []int{16}, none, "I;16", "I;16")
	add(ii, 1, u, 1, []int{16}, none, "I;16", "I;16")
	add(mm, 1, u, 1, []int{16}, none, "I;16B", "I;16B")
	add(ii, 1, []int{2}, 1, []int{16}, none, "I", "I;16S")
	add(mm, 1, []int{2}, 1, []int{16}, none, "I", "I;16BS")
	add(ii, 0, []int{3}, 1, []int{32}, none, "F", "F;32F")
	add(mm, 0, []int{3}, 1, []int{32}, none, "F", "F;32BF")
	add(ii, 1, u, 1, []int{32}, none, "I", "I;32N")
	add(ii, 1, []int{2}, 1, []int{32}, none, "I", "I;32S")
	add(mm, 1, []int{2}, 1, []int{32}, none, "I", "I;32BS")
	add(ii, 1, []int{3}, 1, []int{32}, none, "F", "F;32F")
	add(mm, 1, []int{3}, 1, []int{32}, none, "F", "F;32BF")
	add(both, 1, u, 1, []int{8, 8}, []int{2}, "LA", "LA")
	// RGB with extra samples, 8 or 16 bits each.
	for _, e := range []struct {
		bits, n int
		extra   []int
		mode    string
		raw     string
	}{
		{8, 4, []int{0}, "RGBX", "RGBX"}, {8, 5, []int{0, 0}, "RGBX", "RGBXX"}, {8, 6, []int{0, 0, 0}, "RGBX", "RGBXXX"},
		{8, 4, []int{1}, "RGBA", "RGBa"}, {8, 5, []int{1, 0}, "RGBA", "RGBaX"}, {8, 6, []int{1, 0, 0}, "RGBA", "RGBaXX"},
		{8, 4, []int{2}, "RGBA", "RGBA"}, {8, 5, []int{2, 0}, "RGBA", "RGBAX"}, {8, 6, []int{2, 0, 0}, "RGBA", "RGBAXX"},
		{8, 4, []int{999}, "RGBA", "RGBA"},
		{16, 3, none, "RGB", "RGB;16"}, {16, 4, none, "RGBA", "RGBA;16"}, {16, 4, []int{0}, "RGBX", "RGBX;16"},
		{16, 4, []int{1}, "RGBA", "RGBa;16"}, {16, 4, []int{2}, "RGBA", "RGBA;16"},
	} {
		add(both, 2, u, 1, sameBits(e.n, e.bits), e.extra, e.mode, e.raw)
	}
	add(both, 3, u, 1, []int{8, 8}, []int{2}, "PA", "PA")
	add(both, 5, u, 1, sameBits(5, 8), []int{0}, "CMYK", "CMYKX")
	add(both, 5, u, 1, sameBits(6, 8), []int{0, 0}, "CMYK", "CMYKXX")
	add(ii, 5, u, 1, sameBits(4, 16), none, "CMYK", "CMYK;16")
}

// sameBits is the bits per sample of n samples of bits bits each.
func sameBits(n, bits int) []int {
	b := make([]int, n)
	for i := range b {
		b[i] = bits
	}
	return b
}

// parseTIFF reads the first IFD and resolves its mode as Pillow does.
func parseTIFF(r io.ReaderAt, size int64) (*tiffIFD, error) {
	head, err := readAt(r, 0, 8, "TIFF header")
	if err != nil {
		return nil, err
	}
	t := &tiffIFD{order: binary.LittleEndian}
	if head[0] == 'M' {
		t.order, t.bigEndian = binary.BigEndian, true
	}
	ifd := int64(t.order.Uint32(head[4:]))
	cnt, err := readAt(r, ifd, 2, "TIFF directory")
	if err != nil {
		return nil, err
	}
	n := int(t.order.Uint16(cnt))
	ents, err := readAt(r, ifd+2, 12*n, "TIFF directory")
	if err != nil {
		return nil, err
	}
	tags := map[int][]uint64{}
	for i := 0; i < n; i++ {
		e := ents[12*i:]
		tag, typ, count := int(t.order.Uint16(e)), int(t.order.Uint16(e[2:])), int64(t.order.Uint32(e[4:]))
		var sz int64
		switch typ {
		case 1, 2, 6, 7:
			sz = 1
		case 3, 8:
			sz = 2
		case 4, 9, 13:
			sz = 4
		default:
			continue // rationals, floats: no tag the package needs
		}
		if count > 1<<24 {
			return nil, badf("corrupt TIFF: tag %d holds %d values", tag, count)
		}
		var data []byte
		if sz*count <= 4 {
			data = e[8 : 8+sz*count]
		} else {
			if data, err = readAt(r, int64(t.order.Uint32(e[8:])), int(sz*count), fmt.Sprintf("TIFF tag %d", tag)); err != nil {
				return nil, err
			}
		}
		vals := make([]uint64, count)
		for j := range vals {
			switch typ {
			case 1, 2, 7:
				vals[j] = uint64(data[j])
			case 6:
				vals[j] = uint64(int64(int8(data[j])))
			case 3:
				vals[j] = uint64(t.order.Uint16(data[2*j:]))
			case 8:
				vals[j] = uint64(int64(int16(t.order.Uint16(data[2*j:]))))
			case 4, 13:
				vals[j] = uint64(t.order.Uint32(data[4*j:]))
			case 9:
				vals[j] = uint64(int64(int32(t.order.Uint32(data[4*j:]))))
			}
		}
		tags[tag] = vals
	}
	one := func(tag int, def int) int {
		if v, ok := tags[tag]; ok && len(v) > 0 {
			return int(v[0])
		}
		return def
	}
	list := func(tag int, def []int) []int {
		v, ok := tags[tag]
		if !ok {
			return def
		}
		out := make([]int, len(v))
		for i, x := range v {
			out[i] = int(x)
		}
		return out
	}
	if _, ok := tags[tWindowsMediaPhot]; ok {
		return nil, unsupportedf("Windows Media Photo in a TIFF")
	}
	t.compression = one(tCompression, 1)
	name, known := tiffCompressionNames[t.compression]
	if !known {
		return nil, badf("corrupt TIFF: unknown compression %d", t.compression)
	}
	t.photo = one(tPhotometric, 0)
	if t.compression == tiffOldJPEG {
		t.photo = 6
	}
	t.fillOrder = one(tFillOrder, 1)
	t.planar = one(tPlanarConfig, 1)
	t.predictor = one(tPredictor, 1)
	t.orientation = one(tOrientation, 1)
	t.w, t.h = one(tImageWidth, 0), one(tImageLength, 0)
	t.sampleFormat = list(tSampleFormat, []int{1})
	if len(t.sampleFormat) > 1 {
		allOne := true
		for _, s := range t.sampleFormat {
			allOne = allOne && s == 1
		}
		if allOne {
			t.sampleFormat = []int{1}
		}
	}
	t.bps = list(tBitsPerSample, []int{1})
	t.extra = list(tExtraSamples, []int{})
	defSPP := 1
	if t.compression == tiffOldJPEG && (t.photo == 2 || t.photo == 6) {
		defSPP = 3
	}
	t.spp = one(tSamplesPerPixel, defSPP)
	if t.spp > 6 {
		return nil, unsupportedf("TIFF with %d samples per pixel", t.spp)
	}
	if t.spp < len(t.bps) {
		t.bps = t.bps[:t.spp]
	} else if t.spp > len(t.bps) && len(t.bps) == 1 {
		b := make([]int, t.spp)
		for i := range b {
			b[i] = t.bps[0]
		}
		t.bps = b
	}
	if len(t.bps) != t.spp {
		return nil, badf("corrupt TIFF: %d samples per pixel but %d bit depths", t.spp, len(t.bps))
	}
	key := tiffKey{t.bigEndian, t.photo, ints(t.sampleFormat), t.fillOrder, ints(t.bps), ints(t.extra)}
	mr, ok := tiffOpenInfo[key]
	if !ok {
		return nil, unsupportedf("TIFF pixel layout (photometric %d, %s bits per sample, sample format %v, extra samples %v): %s",
			t.photo, ints(t.bps), t.sampleFormat, t.extra, tiffLayoutHint(t.photo))
	}
	t.mode, t.rawmode = mr[0], mr[1]
	switch t.compression {
	case tiffRaw, tiffLZW, tiffAdobeZip, tiffDeflate, tiffPackBits:
	default:
		return nil, unsupportedf("TIFF with %s compression (clusterlab reads uncompressed, LZW, deflate and PackBits TIFF)", name)
	}
	if t.compression != tiffRaw && t.bigEndian && t.bps[0] == 32 {
		return nil, unsupportedf("big-endian compressed 32-bit TIFF (Pillow 9.4 misreads its byte order)")
	}
	if t.planar != 1 && t.planar != 2 {
		return nil, badf("corrupt TIFF: planar configuration %d", t.planar)
	}
	if t.mode == "P" || t.mode == "PA" {
		t.colormap = list(tColorMap, nil)
		if len(t.colormap) < 3<<t.bps[0] {
			return nil, badf("corrupt TIFF: a palette image with a colour map of %d values, not %d", len(t.colormap), 3<<t.bps[0])
		}
	}
	if _, ok := tags[tStripOffsets]; ok {
		t.tileW = t.w
		t.tileH = one(tRowsPerStrip, t.h)
		if t.tileH <= 0 || t.tileH > t.h {
			t.tileH = t.h
		}
		t.offsets, t.counts = tags[tStripOffsets], tags[tStripByteCounts]
	} else if _, ok := tags[tTileOffsets]; ok {
		t.tiled = true
		t.tileW, t.tileH = one(tTileWidth, 0), one(tTileLength, 0)
		if t.tileW <= 0 || t.tileH <= 0 {
			return nil, badf("corrupt TIFF: tiles of %dx%d pixels", t.tileW, t.tileH)
		}
		t.offsets, t.counts = tags[tTileOffsets], tags[tTileByteCounts]
	} else {
		return nil, badf("corrupt TIFF: no strip or tile offsets")
	}
	if t.w <= 0 || t.h <= 0 {
		return nil, badf("corrupt TIFF: image of %dx%d pixels", t.w, t.h)
	}
	planes := 1
	if t.planar == 2 {
		planes = t.spp
	}
	across, down := (t.w+t.tileW-1)/t.tileW, (t.h+t.tileH-1)/t.tileH
	if want := across * down * planes; len(t.offsets) < want {
		return nil, badf("corrupt TIFF: %d strips or tiles listed, %d needed", len(t.offsets), want)
	}
	if t.compression != tiffRaw && len(t.counts) < len(t.offsets) {
		return nil, badf("corrupt TIFF: %d byte counts for %d strips or tiles", len(t.counts), len(t.offsets))
	}
	return t, nil
}

// tiffLayoutHint says what a TIFF pixel layout is, for the error message.
func tiffLayoutHint(photo int) string {
	switch photo {
	case 6:
		return "YCbCr TIFF is not read"
	case 8:
		return "CIE L*a*b* TIFF is not read"
	}
	return "Pillow 9.4 does not read this layout either"
}

// bitsPerPixel is the bits of one pixel within a chunk (one plane of it
// for separate planes).
func (t *tiffIFD) bitsPerPixel() int {
	if t.planar == 2 {
		return t.bps[0]
	}
	n := 0
	for _, b := range t.bps {
		n += b
	}
	return n
}

// chunkBytes is the uncompressed size of a strip or tile of w x h pixels.
func (t *tiffIFD) chunkBytes(w, h int) int {
	return (w*t.bitsPerPixel() + 7) / 8 * h
}

// chunks is the number of strips or tiles the image is made of.
func (t *tiffIFD) chunks() int {
	planes := 1
	if t.planar == 2 {
		planes = t.spp
	}
	return (t.w + t.tileW - 1) / t.tileW * ((t.h + t.tileH - 1) / t.tileH) * planes
}

// chunkRows is the number of rows of chunk i held in the file: a tile
// always holds tileH rows, the last strip only those left.
func (t *tiffIFD) chunkRows(i int) int {
	if t.tiled {
		return t.tileH
	}
	down := (t.h + t.tileH - 1) / t.tileH
	y := (i % down) * t.tileH
	return min(t.tileH, t.h-y)
}

// chunkRange is where chunk i lies in the file. Uncompressed chunks are as
// long as their pixels, whatever the byte counts say: Pillow reads them
// without the counts.
func (t *tiffIFD) chunkRange(i int) (off, n uint64) {
	if t.compression == tiffRaw {
		return t.offsets[i], uint64(t.chunkBytes(t.tileW, t.chunkRows(i)))
	}
	return t.offsets[i], t.counts[i]
}

// outSize is the size of the image after the orientation tag.
func (t *tiffIFD) outSize() (int, int) {
	if t.orientation >= 5 && t.orientation <= 8 {
		return t.h, t.w
	}
	return t.w, t.h
}

// probeTIFF reads the first IFD and checks that every strip or tile lies
// within the file.
func probeTIFF(r io.ReaderAt, size int64) (Header, error) {
	t, err := parseTIFF(r, size)
	if err != nil {
		return Header{}, err
	}
	w, h := t.outSize()
	if err := checkSize(TIFF, w, h); err != nil {
		return Header{}, err
	}
	for i := range t.chunks() {
		off, n := t.chunkRange(i)
		if off+n > uint64(size) {
			return Header{}, badf("truncated TIFF: strip or tile %d ends at byte %d, the file has %d", i, off+n, size)
		}
	}
	return Header{Width: w, Height: h}, nil
}
