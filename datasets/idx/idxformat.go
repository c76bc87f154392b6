package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// The idx format (LeCun's MNIST distribution format): a 4-byte big-endian
// magic number 0x0000TTNN where TT is the element type and NN the number of
// dimensions, then NN big-endian uint32 dimension sizes, then the elements in
// C order, big-endian.

// Magic numbers of the two arrays a dataset needs.
const (
	magicImages = 0x00000803 // uint8, 3 dimensions: N, rows, columns
	magicLabels = 0x00000801 // uint8, 1 dimension: N
)

// idxType is one element type of the idx format.
type idxType struct {
	name string
	size int // bytes per element
}

// idxTypes maps the type byte of the magic number to its element type.
var idxTypes = map[byte]idxType{
	0x08: {"uint8", 1},
	0x09: {"int8", 1},
	0x0B: {"int16", 2},
	0x0C: {"int32", 4},
	0x0D: {"float32", 4},
	0x0E: {"float64", 8},
}

// idxArray is a parsed idx file.
type idxArray struct {
	Magic uint32
	Type  byte
	Dims  []int
	// Data holds the raw elements (big-endian), exactly prod(Dims) elements.
	Data []byte
}

// FormatError reports a malformed idx file: which file and at which byte
// offset the problem was found.
type FormatError struct {
	File   string
	Offset int64
	// Uncompressed is true when File is gzip-compressed: Offset then counts
	// bytes of the uncompressed stream.
	Uncompressed bool
	Msg          string
}

func (e *FormatError) Error() string {
	where := fmt.Sprintf("at byte offset %d", e.Offset)
	if e.Uncompressed {
		where = fmt.Sprintf("at byte offset %d of the uncompressed data", e.Offset)
	}
	return fmt.Sprintf("idx file %s: %s: %s", e.File, where, e.Msg)
}

// maxIdxElements bounds the element count a header may announce, so that a
// garbled header is reported instead of overflowing the size arithmetic.
const maxIdxElements = 1 << 40

// parseIDX parses a whole idx file held in data. file names it in errors.
// The data length must match the header exactly: a short file and trailing
// bytes are both errors.
func parseIDX(file string, data []byte) (idxArray, error) {
	fail := func(off int, format string, args ...any) (idxArray, error) {
		return idxArray{}, &FormatError{File: file, Offset: int64(off), Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) < 4 {
		return fail(len(data), "file ends inside the 4-byte magic number (file has %d bytes); not an idx file or truncated", len(data))
	}
	magic := binary.BigEndian.Uint32(data)
	if data[0] != 0 || data[1] != 0 {
		return fail(0, "bad magic number 0x%08X: the first two bytes of an idx file are zero; not an idx file (or a gzip file without the .gz suffix)", magic)
	}
	typ, ok := idxTypes[data[2]]
	if !ok {
		return fail(2, "unknown element type 0x%02X in magic number 0x%08X (known: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64)", data[2], magic)
	}
	ndim := int(data[3])
	if ndim == 0 {
		return fail(3, "magic number 0x%08X announces 0 dimensions", magic)
	}
	hdr := 4 + 4*ndim
	if len(data) < hdr {
		return fail(len(data), "file ends inside the header: %d dimensions need a %d-byte header, file has %d bytes", ndim, hdr, len(data))
	}
	dims := make([]int, ndim)
	count := uint64(1)
	for i := range dims {
		d := binary.BigEndian.Uint32(data[4+4*i:])
		dims[i] = int(d)
		count *= uint64(d)
		if count > maxIdxElements {
			return fail(4+4*i, "dimensions %v... announce more than %d elements; garbled header", dims[:i+1], uint64(maxIdxElements))
		}
	}
	want := uint64(hdr) + count*uint64(typ.size)
	got := uint64(len(data))
	switch {
	case got < want:
		return fail(len(data), "truncated: dimensions %v of %s need %d bytes in all, file ends after %d bytes", dims, typ.name, want, got)
	case got > want:
		return fail(int(want), "%d extra bytes after the end of the %v %s array", got-want, dims, typ.name)
	}
	return idxArray{Magic: magic, Type: data[2], Dims: dims, Data: data[hdr:]}, nil
}

// describe renders the array's kind for error messages.
func (a idxArray) describe() string {
	return fmt.Sprintf("%s data with %d dimension(s) %v (magic 0x%08X)", idxTypes[a.Type].name, len(a.Dims), a.Dims, a.Magic)
}

// imageArray is a decoded images file: N images of H x W uint8 pixels.
type imageArray struct {
	N, H, W int
	Pixels  []byte // N*H*W, row-major
}

// decodeImages checks that a parsed file is an images file.
func decodeImages(file string, a idxArray, gz bool) (imageArray, error) {
	if a.Magic != magicImages {
		return imageArray{}, &FormatError{File: file, Uncompressed: gz, Msg: fmt.Sprintf(
			"holds %s; an images file must hold uint8 data with 3 dimensions (magic 0x%08X)", a.describe(), magicImages)}
	}
	if a.Dims[0] == 0 || a.Dims[1] == 0 || a.Dims[2] == 0 {
		return imageArray{}, &FormatError{File: file, Offset: 4, Uncompressed: gz, Msg: fmt.Sprintf(
			"holds %d images of %dx%d pixels; an images file needs at least one image of at least 1x1 pixels", a.Dims[0], a.Dims[1], a.Dims[2])}
	}
	return imageArray{N: a.Dims[0], H: a.Dims[1], W: a.Dims[2], Pixels: a.Data}, nil
}

// decodeLabels checks that a parsed file is a labels file.
func decodeLabels(file string, a idxArray, gz bool) ([]byte, error) {
	if a.Magic != magicLabels {
		return nil, &FormatError{File: file, Uncompressed: gz, Msg: fmt.Sprintf(
			"holds %s; a labels file must hold uint8 data with 1 dimension (magic 0x%08X)", a.describe(), magicLabels)}
	}
	return a.Data, nil
}

// readMaybeGzip reads a whole file, decompressing it when its name ends in
// .gz. Decompression errors are FormatErrors with the offset reached in the
// uncompressed stream.
func readMaybeGzip(path string) (data []byte, gz bool, err error) {
	if !strings.HasSuffix(path, ".gz") {
		data, err = os.ReadFile(path)
		return data, false, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, true, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, true, &FormatError{File: path, Msg: fmt.Sprintf("not a valid gzip file (%v); rename it without .gz if it is not compressed", err)}
	}
	// Most idx files compress about 5:1; start there to limit regrowth.
	buf := bytes.NewBuffer(make([]byte, 0, 5*len(raw)+512))
	n, err := io.Copy(buf, zr)
	if err != nil {
		msg := fmt.Sprintf("gzip stream broken: %v", err)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			msg = "gzip stream truncated (the download may be incomplete)"
		}
		return nil, true, &FormatError{File: path, Offset: n, Uncompressed: true, Msg: msg}
	}
	return buf.Bytes(), true, nil
}
