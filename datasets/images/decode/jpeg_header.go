package decode

import (
	"bufio"
	"errors"
	"io"
)

// probeJPEG reads the markers up to the first scan, as Pillow's
// JpegImagePlugin does (size and layers from the SOF segment; 8-bit
// samples and 1, 3 or 4 components only), and checks that an end-of-image
// marker (FF D9) follows the scan: libjpeg cannot finish a JPEG without
// one, and Pillow then fails with "image file is truncated".
func probeJPEG(r io.ReaderAt, size int64) (Header, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 4096)
	var off int64 // bytes consumed from br
	readByte := func() (byte, error) {
		b, err := br.ReadByte()
		if err == nil {
			off++
		}
		return b, err
	}
	truncated := func(err error, what string) error {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return badf("truncated JPEG: the file ends inside the %s (at byte %d)", what, off)
		}
		return err
	}
	if _, err := br.Discard(2); err != nil { // SOI
		return Header{}, truncated(err, "header")
	}
	off = 2
	var h Header
	var layers int
	sawFrame := false
	for {
		b, err := readByte()
		if err != nil {
			return Header{}, truncated(err, "markers before the image data")
		}
		if b != 0xFF {
			continue // junk between segments, which Pillow skips too
		}
		m, err := readByte()
		for err == nil && m == 0xFF { // fill bytes
			m, err = readByte()
		}
		if err != nil {
			return Header{}, truncated(err, "markers before the image data")
		}
		switch {
		case m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8):
			continue // no segment follows
		case m == 0xD9:
			return Header{}, badf("truncated JPEG: it ends (EOI marker) before any image data")
		}
		lb := make([]byte, 2)
		if _, err := io.ReadFull(br, lb); err != nil {
			return Header{}, truncated(err, "marker segment")
		}
		off += 2
		n := int(lb[0])<<8 | int(lb[1]) - 2
		if n < 0 {
			return Header{}, badf("corrupt JPEG: a marker segment of negative length at byte %d", off-2)
		}
		isSOF := m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
		if isSOF {
			if n < 6 {
				return Header{}, badf("corrupt JPEG: frame header of %d bytes", n)
			}
			seg := make([]byte, n)
			if _, err := io.ReadFull(br, seg); err != nil {
				return Header{}, truncated(err, "frame header")
			}
			off += int64(n)
			if seg[0] != 8 {
				return Header{}, unsupportedf("%d-bit JPEG (Pillow reads 8-bit JPEG only)", seg[0])
			}
			h.Height = int(seg[1])<<8 | int(seg[2])
			h.Width = int(seg[3])<<8 | int(seg[4])
			layers = int(seg[5])
			if layers != 1 && layers != 3 && layers != 4 {
				return Header{}, unsupportedf("JPEG with %d components (Pillow reads 1, 3 or 4)", layers)
			}
			if m == 0xC3 || m == 0xC7 || m == 0xCB || m == 0xCF {
				return Header{}, unsupportedf("lossless JPEG (SOF%d), which libjpeg-turbo 2.1 cannot decode", m-0xC0)
			}
			sawFrame = true
			continue
		}
		if m == 0xDA { // start of scan
			if !sawFrame {
				return Header{}, badf("corrupt JPEG: image data before any frame header")
			}
			if h.Height == 0 {
				return Header{}, unsupportedf("JPEG whose height is given by a DNL marker")
			}
			if err := checkSize(JPEG, h.Width, h.Height); err != nil {
				return Header{}, err
			}
			if err := jpegComplete(r, size, off+int64(n)); err != nil {
				return Header{}, err
			}
			return h, nil
		}
		if _, err := br.Discard(n); err != nil {
			return Header{}, truncated(err, "marker segment")
		}
		off += int64(n)
	}
}

// jpegComplete checks that an EOI marker follows the first scan, which
// starts at scan: first in the file's last 64 KiB (where it is unless
// data follows the image, such as the video of a motion photo), then
// anywhere after the scan.
func jpegComplete(r io.ReaderAt, size, scan int64) error {
	eoi := []byte{0xFF, 0xD9}
	at, err := lastIndexInTail(r, size, 64<<10, eoi)
	if err != nil {
		return err
	}
	if at >= scan {
		return nil
	}
	at, err = indexFrom(r, size, scan, eoi)
	if err != nil {
		return err
	}
	if at < 0 {
		return badf("truncated JPEG: no end-of-image marker after the image data (%s)", plural(int(size), "byte", "bytes"))
	}
	return nil
}
