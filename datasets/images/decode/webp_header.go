package decode

import (
	"encoding/binary"
	"io"
)

// probeWebP reads the canvas size from the first chunk (VP8X, VP8L or
// VP8) and checks that the RIFF size fits in the file.
func probeWebP(r io.ReaderAt, size int64) (Header, error) {
	b, err := readAt(r, 0, 30, "WebP header")
	if err != nil {
		return Header{}, err
	}
	le := binary.LittleEndian
	riff := int64(le.Uint32(b[4:])) + 8
	if riff > size {
		return Header{}, badf("truncated WebP: its RIFF header says %d bytes, the file has %d", riff, size)
	}
	var h Header
	switch string(b[12:16]) {
	case "VP8X":
		h.Width = 1 + (int(b[24]) | int(b[25])<<8 | int(b[26])<<16)
		h.Height = 1 + (int(b[27]) | int(b[28])<<8 | int(b[29])<<16)
	case "VP8L":
		if b[20] != 0x2F {
			return Header{}, badf("corrupt WebP: bad lossless signature")
		}
		v := le.Uint32(b[21:])
		h.Width = 1 + int(v&0x3FFF)
		h.Height = 1 + int(v>>14&0x3FFF)
	case "VP8 ":
		if b[23] != 0x9D || b[24] != 0x01 || b[25] != 0x2A {
			return Header{}, badf("corrupt WebP: bad lossy frame start code")
		}
		h.Width = int(le.Uint16(b[26:]) & 0x3FFF)
		h.Height = int(le.Uint16(b[28:]) & 0x3FFF)
	default:
		return Header{}, badf("corrupt WebP: the first chunk is %q, not VP8, VP8L or VP8X", b[12:16])
	}
	return h, nil
}
