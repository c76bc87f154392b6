package decode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Header describes an image file as its header gives it.
type Header struct {
	Format Format
	// Width and Height are those of the RGB image Decode gives (for TIFF,
	// after the orientation tag is applied, as Pillow applies it).
	Width, Height int
}

// maxPixels bounds the images the package accepts, as Pillow's
// decompression-bomb check does (Pillow refuses twice its MAX_IMAGE_PIXELS,
// 2 * 89,478,485 pixels).
const maxPixels = 2 * 89478485

// Probe reads the header of the image file r of size bytes and checks
// cheaply that the file is complete: a JPEG has its end-of-image marker
// after the first scan, a PNG its IEND chunk, a GIF its trailer or a whole
// first frame, and the sizes a BMP, WebP, TIFF or binary PNM header
// declares fit in the file. It usually reads a few KiB: the header, and
// the end of the file. A file that is not an image, is damaged or uses an
// unsupported part of its format gives an *Error; an I/O error is returned
// as it is.
func Probe(r io.ReaderAt, size int64) (Header, error) {
	if size == 0 {
		return Header{}, badf("empty file (0 bytes)")
	}
	head := make([]byte, min(int64(sniffLen), size))
	if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return Header{}, err
	}
	f, err := sniff(head)
	if err != nil {
		return Header{}, err
	}
	h, err := codecs[f].probe(r, size)
	if err != nil {
		return Header{}, err
	}
	h.Format = f
	if err := checkSize(f, h.Width, h.Height); err != nil {
		return Header{}, err
	}
	return h, nil
}

// checkSize refuses an empty image and one above Pillow's
// decompression-bomb limit. The probers call it as soon as the header
// gives the size, before they check that the file is complete: Pillow
// checks the size when it opens a file, and finds truncated data only
// when it loads it, so a truncated bomb is reported as a bomb.
func checkSize(f Format, w, h int) error {
	if w <= 0 || h <= 0 {
		return badf("%s declares an image of %dx%d pixels", f, w, h)
	}
	if int64(w)*int64(h) > maxPixels {
		return unsupportedf("%s of %dx%d pixels: more than %d, which Pillow refuses as a possible decompression bomb", f, w, h, maxPixels)
	}
	return nil
}

// ProbeBytes is Probe for a file already in memory.
func ProbeBytes(data []byte) (Header, error) {
	return Probe(bytes.NewReader(data), int64(len(data)))
}

// readAt reads exactly n bytes at off, or says the file is truncated
// there (what names the part being read, for the message).
func readAt(r io.ReaderAt, off int64, n int, what string) ([]byte, error) {
	b := make([]byte, n)
	got, err := r.ReadAt(b, off)
	if got == n {
		return b, nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, badf("truncated: the file ends inside the %s (at byte %d)", what, off+int64(got))
	}
	return nil, err
}

// lastIndexInTail returns the offset of the last occurrence of pat in the
// last n bytes of the file (or -1).
func lastIndexInTail(r io.ReaderAt, size int64, n int64, pat []byte) (int64, error) {
	start := max(0, size-n)
	b := make([]byte, size-start)
	if _, err := r.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
		return -1, err
	}
	i := bytes.LastIndex(b, pat)
	if i < 0 {
		return -1, nil
	}
	return start + int64(i), nil
}

// indexFrom returns the offset of the first occurrence of pat at or after
// off (or -1), reading the file forward in blocks.
func indexFrom(r io.ReaderAt, size, off int64, pat []byte) (int64, error) {
	const block = 1 << 20
	buf := make([]byte, block+len(pat)-1)
	for off < size {
		n := min(int64(len(buf)), size-off)
		got, err := r.ReadAt(buf[:n], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return -1, err
		}
		if i := bytes.Index(buf[:got], pat); i >= 0 {
			return off + int64(i), nil
		}
		if int64(got) < n || off+n >= size {
			return -1, nil
		}
		off += max(1, n-int64(len(pat)-1))
	}
	return -1, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
