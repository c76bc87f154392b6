package decode

import (
	"bufio"
	"bytes"
	"compress/lzw"
	"errors"
	"io"
)

// gifFrame is what Pillow's GifImagePlugin learns before the first
// frame's pixels: the image size, the palette in force and where the
// frame's LZW data starts.
type gifFrame struct {
	w, h           int // image size: the logical screen, grown to hold the frame
	x0, y0, x1, y1 int // the frame's extent
	palette        []byte
	transparency   int // -1 when the frame has none
	interlaced     bool
	litWidth       int
	data           int64 // offset of the first data sub-block
}

// parseGIF reads a GIF up to the start of the first frame's image data, as
// GifImagePlugin._open and _seek(0) do.
func parseGIF(r io.ReaderAt, size int64) (gifFrame, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 4096)
	var off int64
	read := func(n int, what string) ([]byte, error) {
		b := make([]byte, n)
		got, err := io.ReadFull(br, b)
		off += int64(got)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, badf("truncated GIF: the file ends inside the %s (at byte %d)", what, off)
			}
			return nil, err
		}
		return b, nil
	}
	s, err := read(13, "header")
	if err != nil {
		return gifFrame{}, err
	}
	f := gifFrame{w: int(s[6]) | int(s[7])<<8, h: int(s[8]) | int(s[9])<<8, transparency: -1}
	var global []byte
	if flags := s[10]; flags&0x80 != 0 {
		if global, err = read(3<<((flags&7)+1), "global colour table"); err != nil {
			return gifFrame{}, err
		}
	}
	// skipBlocks skips data sub-blocks up to their terminator.
	skipBlocks := func(what string) error {
		for {
			n, err := read(1, what)
			if err != nil {
				return err
			}
			if n[0] == 0 {
				return nil
			}
			if _, err := read(int(n[0]), what); err != nil {
				return err
			}
		}
	}
	for {
		b, err := read(1, "blocks before the first image")
		if err != nil {
			return gifFrame{}, err
		}
		switch b[0] {
		case ';':
			return gifFrame{}, badf("corrupt GIF: it ends (trailer) before any image")
		case '!':
			label, err := read(1, "extension")
			if err != nil {
				return gifFrame{}, err
			}
			if label[0] == 0xF9 { // graphic control extension
				n, err := read(1, "graphic control extension")
				if err != nil {
					return gifFrame{}, err
				}
				blk, err := read(int(n[0]), "graphic control extension")
				if err != nil {
					return gifFrame{}, err
				}
				// As in Pillow, a later extension without a transparent
				// index leaves an earlier one in force.
				if len(blk) >= 4 && blk[0]&1 != 0 {
					f.transparency = int(blk[3])
				}
			}
			if err := skipBlocks("extension"); err != nil {
				return gifFrame{}, err
			}
		case ',':
			d, err := read(9, "image descriptor")
			if err != nil {
				return gifFrame{}, err
			}
			f.x0, f.y0 = int(d[0])|int(d[1])<<8, int(d[2])|int(d[3])<<8
			f.x1, f.y1 = f.x0+(int(d[4])|int(d[5])<<8), f.y0+(int(d[6])|int(d[7])<<8)
			f.w, f.h = max(f.w, f.x1), max(f.h, f.y1)
			f.interlaced = d[8]&0x40 != 0
			// Pillow keeps a colour table only when it is not the grey ramp
			// (i, i, i); a local grey ramp leaves the global table in force,
			// which Pillow's load() puts on the frame.
			if !gifGreyRamp(global) {
				f.palette = global
			}
			if d[8]&0x80 != 0 {
				local, err := read(3<<((d[8]&7)+1), "local colour table")
				if err != nil {
					return gifFrame{}, err
				}
				if !gifGreyRamp(local) {
					f.palette = local
				}
			}
			lw, err := read(1, "image data")
			if err != nil {
				return gifFrame{}, err
			}
			f.litWidth = int(lw[0])
			f.data = off
			return f, nil
		default:
			// Pillow skips unknown bytes between blocks.
		}
	}
}

// probeGIF reads the GIF's size (the logical screen, grown to hold the
// first frame, as Pillow sizes it) and checks that the file ends with the
// trailer or that the first frame's data is complete.
func probeGIF(r io.ReaderAt, size int64) (Header, error) {
	f, err := parseGIF(r, size)
	if err != nil {
		return Header{}, err
	}
	h := Header{Width: f.w, Height: f.h}
	if err := checkSize(GIF, h.Width, h.Height); err != nil {
		return Header{}, err
	}
	if last, err := readAt(r, size-1, 1, "GIF"); err == nil && last[0] == ';' {
		return h, nil
	}
	br := bufio.NewReaderSize(io.NewSectionReader(r, f.data, size-f.data), 4096)
	for {
		n, err := br.ReadByte()
		if err != nil {
			return Header{}, badf("truncated GIF: the file ends inside the first image's data")
		}
		if n == 0 {
			return h, nil
		}
		if _, err := br.Discard(int(n)); err != nil {
			return Header{}, badf("truncated GIF: the file ends inside the first image's data")
		}
	}
}

// decodeGIF decodes the first frame as Pillow 9.4 does: the image (the
// size probeGIF gives) is first filled with the frame's transparent index,
// or with 0, then the frame is decoded into its extent; RGB comes from the
// frame's palette (local, else global), indices past its end and images
// without a palette giving grey (i, i, i).
func decodeGIF(data, dst []byte, w, h int) error {
	f, err := parseGIF(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	if f.w != w || f.h != h {
		return badf("GIF is %dx%d, expected %dx%d (the file changed?)", f.w, f.h, w, h)
	}
	if f.litWidth < 2 || f.litWidth > 8 {
		return unsupportedf("GIF with an LZW code size of %d", f.litWidth)
	}
	fill := byte(0)
	if f.transparency >= 0 {
		fill = byte(f.transparency)
	}
	idx := make([]byte, w*h)
	if fill != 0 {
		for i := range idx {
			idx[i] = fill
		}
	}
	fw, fh := f.x1-f.x0, f.y1-f.y0
	if fw > 0 && fh > 0 {
		lr := lzw.NewReader(&gifBlockReader{data: data, off: int(f.data)}, lzw.LSB, f.litWidth)
		defer lr.Close()
		row := make([]byte, fw)
		for i := 0; i < fh; i++ {
			if _, err := io.ReadFull(lr, row); err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					return badf("corrupt GIF: the first image's data ends after %d of its %d rows", i, fh)
				}
				return badf("corrupt GIF: %s", trimPrefix(err.Error(), "lzw: "))
			}
			y := i
			if f.interlaced {
				y = gifInterlacedRow(i, fh)
			}
			copy(idx[(f.y0+y)*w+f.x0:], row)
		}
	}
	var lut [256][3]byte
	for i := range lut {
		lut[i] = [3]byte{byte(i), byte(i), byte(i)}
	}
	for i := 0; i < len(f.palette)/3 && i < 256; i++ {
		lut[i] = [3]byte{f.palette[3*i], f.palette[3*i+1], f.palette[3*i+2]}
	}
	for i, v := range idx {
		c := lut[v]
		dst[3*i], dst[3*i+1], dst[3*i+2] = c[0], c[1], c[2]
	}
	return nil
}

// gifGreyRamp is Pillow's test that a colour table is not needed: every
// entry i is (i, i, i).
func gifGreyRamp(t []byte) bool {
	for i := 0; i+2 < len(t); i += 3 {
		if int(t[i]) != i/3 || t[i+1] != t[i] || t[i+2] != t[i] {
			return false
		}
	}
	return true
}

// gifInterlacedRow maps the i-th row of an interlaced frame to its place:
// rows 0, 8, 16... first, then 4, 12..., then 2, 6..., then 1, 3...
func gifInterlacedRow(i, h int) int {
	for _, p := range [4][2]int{{0, 8}, {4, 8}, {2, 4}, {1, 2}} {
		n := (h - p[0] + p[1] - 1) / p[1]
		if n < 0 {
			n = 0
		}
		if i < n {
			return p[0] + i*p[1]
		}
		i -= n
	}
	return h - 1
}

// gifBlockReader reads the bytes of a run of GIF data sub-blocks.
type gifBlockReader struct {
	data []byte
	off  int
	left int // bytes left in the current sub-block
	done bool
}

func (g *gifBlockReader) Read(p []byte) (int, error) {
	for g.left == 0 {
		if g.done || g.off >= len(g.data) {
			return 0, io.EOF
		}
		g.left = int(g.data[g.off])
		g.off++
		if g.left == 0 {
			g.done = true
			return 0, io.EOF
		}
	}
	n := min(len(p), g.left, len(g.data)-g.off)
	if n == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	copy(p, g.data[g.off:g.off+n])
	g.off += n
	g.left -= n
	return n, nil
}
