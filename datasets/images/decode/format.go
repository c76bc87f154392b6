package decode

import (
	"bytes"
	"fmt"
	"io"
)

// Format is an image file format the package reads.
type Format string

// The formats, named as Pillow names them.
const (
	JPEG Format = "JPEG"
	PNG  Format = "PNG"
	GIF  Format = "GIF"
	BMP  Format = "BMP"
	WebP Format = "WEBP"
	TIFF Format = "TIFF"
	PNM  Format = "PPM" // PBM, PGM and PPM, binary and plain
)

// Formats lists the formats the package reads.
var Formats = []Format{JPEG, PNG, GIF, BMP, WebP, TIFF, PNM}

// codec is how the package reads one format: probe reads its header and
// checks the file is whole, decode decodes it into a w x h RGB buffer.
type codec struct {
	probe  func(r io.ReaderAt, size int64) (Header, error)
	decode func(data, dst []byte, w, h int) error
}

// codecs holds the codec of every format sniff recognises.
var codecs = map[Format]codec{
	JPEG: {probeJPEG, decodeJPEG},
	PNG:  {probePNG, decodePNG},
	GIF:  {probeGIF, decodeGIF},
	BMP:  {probeBMP, decodeBMP},
	WebP: {probeWebP, decodeWebP},
	TIFF: {probeTIFF, decodeTIFF},
	PNM:  {probePNM, decodePNM},
}

// sniffLen is how many leading bytes sniff looks at.
const sniffLen = 16

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// sniff names the format of a file from its first bytes, by content as
// Pillow's Image.open does (a PNG named .jpg is a PNG), or says what else
// it is.
func sniff(head []byte) (Format, error) {
	switch {
	case len(head) == 0:
		return "", badf("empty file (0 bytes)")
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return JPEG, nil
	case bytes.HasPrefix(head, pngSignature):
		return PNG, nil
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return GIF, nil
	case bytes.HasPrefix(head, []byte("BM")):
		return BMP, nil
	case len(head) >= 12 && bytes.HasPrefix(head, []byte("RIFF")) && string(head[8:12]) == "WEBP":
		return WebP, nil
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return TIFF, nil
	case len(head) >= 2 && head[0] == 'P' && head[1] >= '1' && head[1] <= '6':
		return PNM, nil
	}
	for _, o := range otherFormats {
		if len(head) >= o.at+len(o.magic) && string(head[o.at:o.at+len(o.magic)]) == o.magic {
			return "", unsupportedf("%s file, not a format clusterlab reads (%s)", o.name, formatList())
		}
	}
	return "", badf("not an image: the content is none of %s (it starts with %s)", formatList(), quoteHead(head))
}

// otherFormats are recognised only to name them in the error.
var otherFormats = []struct {
	at          int
	magic, name string
}{
	{0, "II+\x00", "BigTIFF"}, {0, "MM\x00+", "BigTIFF"},
	{4, "ftypheic", "HEIC"}, {4, "ftypheix", "HEIC"}, {4, "ftypmif1", "HEIF"}, {4, "ftypavif", "AVIF"},
	{0, "\x00\x00\x00\x0CjP  ", "JPEG 2000"}, {0, "\xFF\x4F\xFF\x51", "JPEG 2000 codestream"},
	{0, "8BPS", "Photoshop (PSD)"}, {0, "%PDF", "PDF"}, {0, "\x00\x00\x01\x00", "Windows icon (ICO)"},
	{0, "qoif", "QOI"}, {0, "\xFF\x0A", "JPEG XL"}, {0, "\x00\x00\x00\x0CJXL ", "JPEG XL"},
	{0, "\x93NUMPY", "NumPy array (.npy)"}, {0, "PK\x03\x04", "ZIP archive"}, {0, "\x1F\x8B", "gzip archive"},
}

func formatList() string { return "PNG, JPEG, GIF, BMP, WebP, TIFF, PPM/PGM/PBM" }

// quoteHead shows the first bytes of a file for an error message.
func quoteHead(head []byte) string {
	h := head
	if len(h) > 8 {
		h = h[:8]
	}
	return fmt.Sprintf("%q", h)
}
