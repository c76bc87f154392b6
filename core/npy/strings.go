package npy

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// WriteStrings writes a 1-D array of Unicode strings (numpy dtype '<U<n>',
// n the longest string's length in code points: UTF-32, zero-padded),
// which numpy.load reads as a str array. Strings must be valid UTF-8
// without NUL characters (numpy strips trailing NULs).
func WriteStrings(path string, vals []string) error {
	width := 1
	for i, v := range vals {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return fmt.Errorf("npy: string %d (%q) is not valid UTF-8 without NUL", i, v)
		}
		width = max(width, utf8.RuneCountInString(v))
	}
	return WriteAtomic(path, func(w io.Writer) error {
		if _, err := w.Write(EncodeHeader(fmt.Sprintf("<U%d", width), []int{len(vals)})); err != nil {
			return err
		}
		buf := make([]byte, 4*width)
		for _, v := range vals {
			clear(buf)
			i := 0
			for _, r := range v {
				binary.LittleEndian.PutUint32(buf[4*i:], uint32(r))
				i++
			}
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReadStrings reads a 1-D array of Unicode strings ('<U<n>'), trailing NULs
// stripped as numpy does.
func ReadStrings(path string) ([]string, error) {
	h, data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(h.DType) < 3 || h.DType[:2] != "<U" || len(h.Shape) != 1 || h.FortranOrder {
		return nil, fmt.Errorf("%w: %s holds %s %v, want a 1-D array of strings (<U)", ErrFormat, path, h.DType, h.Shape)
	}
	item, err := h.ItemSize()
	if err != nil {
		return nil, err
	}
	out := make([]string, h.Shape[0])
	var b strings.Builder
	for i := range out {
		b.Reset()
		rec := data[i*item : (i+1)*item]
		for j := 0; j < len(rec); j += 4 {
			r := rune(binary.LittleEndian.Uint32(rec[j:]))
			if r == 0 {
				break
			}
			if !utf8.ValidRune(r) {
				return nil, fmt.Errorf("%w: %s: string %d holds the invalid code point %#x", ErrFormat, path, i, r)
			}
			b.WriteRune(r)
		}
		out[i] = b.String()
	}
	return out, nil
}
