package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/clusterlab/clusterlab/datasets/internal/distfile"
)

// CIFAR images: 32x32 RGB. Files store each image channel-planar (1024 red
// bytes, 1024 green, 1024 blue, each plane row-major); the plugin delivers
// them interleaved (HWC), as core.ImageBatch wants.
const (
	side       = 32
	channels   = 3
	planeBytes = side * side
	imageBytes = channels * planeBytes // 3072
)

// The binary version: each record is the label byte(s) then the 3072 pixel
// bytes. CIFAR-10 has one label byte; CIFAR-100 has the coarse label then
// the fine label.

// maxRecordsHint bounds how many records a size announced by a file system
// or a tar header may make us allocate up front (the largest CIFAR file
// holds 50000); larger files still load, growing as they are read.
const maxRecordsHint = 60000

// batch is the images and labels of one data file, decoded.
type batch struct {
	n      int
	pixels []byte // n*imageBytes, HWC
	labels []byte // CIFAR-10 labels, or CIFAR-100 fine labels
	coarse []byte // CIFAR-100 coarse labels; nil for CIFAR-10
}

// recordError is a problem in a binary batch at a byte offset.
type recordError struct {
	offset int64
	msg    string
	err    error
}

func (e *recordError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("at byte offset %d: %s: %v", e.offset, e.msg, e.err)
	}
	return fmt.Sprintf("at byte offset %d: %s", e.offset, e.msg)
}

func (e *recordError) Unwrap() error { return e.err }

// readBinary decodes a binary batch of size bytes from r. labelBytes is 1
// (CIFAR-10) or 2 (CIFAR-100). The size must be a whole, non-zero number of
// records; r ending before size bytes is an error that wraps
// io.ErrUnexpectedEOF (for an archive member: the archive is truncated).
func readBinary(ctx context.Context, r io.Reader, size int64, labelBytes int) (*batch, error) {
	rec := int64(labelBytes + imageBytes)
	what := "1 label byte"
	if labelBytes == 2 {
		what = "a coarse and a fine label byte"
	}
	switch {
	case size <= 0:
		return nil, &recordError{offset: 0, msg: fmt.Sprintf("the file is empty; a batch holds records of %d bytes (%s, then %d pixel bytes)", rec, what, imageBytes)}
	case size%rec != 0:
		return nil, &recordError{offset: size - size%rec, msg: fmt.Sprintf(
			"the file's %d bytes are not a whole number of %d-byte records (%s, then %d pixel bytes): the last record is cut after %d bytes; the file is truncated or not a %s binary batch",
			size, rec, what, imageBytes, size%rec, map[bool]string{false: "CIFAR-10", true: "CIFAR-100"}[labelBytes == 2])}
	}
	n := int(size / rec)
	b := &batch{}
	hint := min(n, maxRecordsHint)
	b.pixels = make([]byte, 0, hint*imageBytes)
	b.labels = make([]byte, 0, hint)
	if labelBytes == 2 {
		b.coarse = make([]byte, 0, hint)
	}
	br := bufio.NewReaderSize(r, 1<<16)
	buf := make([]byte, rec)
	for i := range n {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if _, err := io.ReadFull(br, buf); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, &recordError{offset: int64(i) * rec, msg: fmt.Sprintf("data ends inside record %d of %d", i, n), err: err}
		}
		if labelBytes == 2 {
			b.coarse = append(b.coarse, buf[0])
		}
		b.labels = append(b.labels, buf[labelBytes-1])
		off := len(b.pixels)
		b.pixels = append(b.pixels, make([]byte, imageBytes)...)
		planarToHWC(b.pixels[off:off+imageBytes], buf[labelBytes:])
	}
	b.n = n
	return b, nil
}

// planarToHWC converts one image from channel planes to interleaved pixels.
func planarToHWC(dst, src []byte) {
	r, g, bl := src[:planeBytes], src[planeBytes:2*planeBytes], src[2*planeBytes:imageBytes]
	for p := range planeBytes {
		dst[3*p] = r[p]
		dst[3*p+1] = g[p]
		dst[3*p+2] = bl[p]
	}
}

// maxNamesBytes bounds a class-names text file (the real ones hold a few
// hundred bytes).
const maxNamesBytes = 1 << 20

// parseNames parses a class-names file of the binary version: one name per
// line, line i+1 naming label i. Surrounding blanks and blank trailing lines
// (the CIFAR files end with some) are dropped. A *recordError gives the
// offset of a blank line amid the names.
func parseNames(data []byte) ([]string, error) {
	names, blank, offset := distfile.ClassNames(data)
	if len(names) == 0 {
		return nil, &recordError{offset: 0, msg: "holds no class names; it should have one name per line"}
	}
	if blank > 0 {
		return nil, &recordError{offset: offset, msg: fmt.Sprintf("line %d is blank; the file should have one class name per line (line i+1 names label i)", blank)}
	}
	return names, nil
}
