// Package npy reads and writes NumPy .npy files (format versions 1.0, 2.0
// and 3.0; little-endian; C order), the array format of clusterlab's store,
// so that users can open every array from Python with numpy.load.
package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

var magic = []byte("\x93NUMPY")

// ErrFormat marks a file that is not a valid .npy of the expected kind.
var ErrFormat = errors.New("npy: bad format")

// Header describes an array file.
type Header struct {
	DType        string // numpy descr, e.g. "<f4", "|u1"
	Shape        []int
	FortranOrder bool
	DataOffset   int64 // byte offset of the data
}

// Count is the number of elements.
func (h Header) Count() int {
	n := 1
	for _, d := range h.Shape {
		n *= d
	}
	return n
}

// ItemSize is the size in bytes of one element of DType.
func (h Header) ItemSize() (int, error) {
	if len(h.DType) < 3 {
		return 0, fmt.Errorf("%w: dtype %q", ErrFormat, h.DType)
	}
	n, err := strconv.Atoi(h.DType[2:])
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%w: dtype %q", ErrFormat, h.DType)
	}
	if h.DType[1] == 'U' { // n UTF-32 code units
		return 4 * n, nil
	}
	return n, nil
}

// DataSize is the expected size in bytes of the data section.
func (h Header) DataSize() (int64, error) {
	sz, err := h.ItemSize()
	if err != nil {
		return 0, err
	}
	return int64(h.Count()) * int64(sz), nil
}

var (
	reDescr   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	reFortran = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	reShape   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// maxHeaderLen bounds the header so a garbled file cannot make us allocate
// gigabytes.
const maxHeaderLen = 1 << 20

// ReadHeader parses the header at the start of r.
func ReadHeader(r io.Reader) (Header, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return Header{}, fmt.Errorf("%w: short header: %v", ErrFormat, err)
	}
	if !bytes.Equal(pre[:6], magic) {
		return Header{}, fmt.Errorf("%w: not a .npy file (magic bytes missing)", ErrFormat)
	}
	major := pre[6]
	var hlen int
	offset := int64(8)
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return Header{}, fmt.Errorf("%w: short header: %v", ErrFormat, err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
		offset += 2
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return Header{}, fmt.Errorf("%w: short header: %v", ErrFormat, err)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
		offset += 4
	default:
		return Header{}, fmt.Errorf("%w: unsupported format version %d.%d", ErrFormat, pre[6], pre[7])
	}
	if hlen > maxHeaderLen {
		return Header{}, fmt.Errorf("%w: header length %d too large", ErrFormat, hlen)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return Header{}, fmt.Errorf("%w: short header: %v", ErrFormat, err)
	}
	h := Header{DataOffset: offset + int64(hlen)}
	s := string(hb)
	m := reDescr.FindStringSubmatch(s)
	if m == nil {
		return Header{}, fmt.Errorf("%w: header has no descr: %q", ErrFormat, s)
	}
	h.DType = m[1]
	m = reFortran.FindStringSubmatch(s)
	if m == nil {
		return Header{}, fmt.Errorf("%w: header has no fortran_order: %q", ErrFormat, s)
	}
	h.FortranOrder = m[1] == "True"
	m = reShape.FindStringSubmatch(s)
	if m == nil {
		return Header{}, fmt.Errorf("%w: header has no shape: %q", ErrFormat, s)
	}
	total := int64(1)
	for _, part := range strings.Split(m[1], ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		part = strings.TrimSuffix(part, "L")
		d, err := strconv.Atoi(part)
		if err != nil || d < 0 {
			return Header{}, fmt.Errorf("%w: bad shape %q", ErrFormat, m[1])
		}
		total *= int64(d)
		if total > math.MaxInt32*int64(16) {
			return Header{}, fmt.Errorf("%w: shape %q too large", ErrFormat, m[1])
		}
		h.Shape = append(h.Shape, d)
	}
	if _, err := h.ItemSize(); err != nil {
		return Header{}, err
	}
	return h, nil
}

// ReadFile reads a whole array and returns its header and raw data bytes,
// checking that the file holds exactly the data its header announces.
func ReadFile(path string) (Header, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Header{}, nil, err
	}
	h, data, err := decode(bufio.NewReader(f), st.Size())
	if err != nil {
		return Header{}, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return h, data, nil
}

// Decode reads an array from r (whose total size is unknown).
func Decode(r io.Reader) (Header, []byte, error) { return decode(r, -1) }

func decode(r io.Reader, fileSize int64) (Header, []byte, error) {
	h, err := ReadHeader(r)
	if err != nil {
		return Header{}, nil, err
	}
	if h.FortranOrder {
		return Header{}, nil, fmt.Errorf("%w: Fortran-order arrays are not supported; save with numpy.ascontiguousarray", ErrFormat)
	}
	size, err := h.DataSize()
	if err != nil {
		return Header{}, nil, err
	}
	if fileSize >= 0 && h.DataOffset+size != fileSize {
		return Header{}, nil, fmt.Errorf("%w: header announces %d data bytes at offset %d, file has %d bytes (truncated or damaged)", ErrFormat, size, h.DataOffset, fileSize)
	}
	if fileSize < 0 && size > 1<<34 {
		return Header{}, nil, fmt.Errorf("%w: array of %d bytes too large", ErrFormat, size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return Header{}, nil, fmt.Errorf("%w: data truncated: %v", ErrFormat, err)
	}
	return h, data, nil
}

// ToFloat32 converts raw data of a float dtype (f2, f4, f8; little-endian)
// to float32.
func ToFloat32(h Header, data []byte) ([]float32, error) {
	n := h.Count()
	out := make([]float32, n)
	switch h.DType {
	case "<f4", "=f4":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
	case "<f8", "=f8":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:])))
		}
	case "<f2", "=f2":
		for i := range out {
			out[i] = halfToFloat32(binary.LittleEndian.Uint16(data[2*i:]))
		}
	default:
		return nil, fmt.Errorf("%w: dtype %s is not float16/32/64 little-endian", ErrFormat, h.DType)
	}
	return out, nil
}

// ToInt64 converts raw data of an integer or bool dtype to int64.
func ToInt64(h Header, data []byte) ([]int64, error) {
	n := h.Count()
	out := make([]int64, n)
	dt := h.DType
	if len(dt) == 3 && (dt[0] == '|' || dt[0] == '=') {
		dt = "<" + dt[1:]
	}
	switch dt {
	case "<i1":
		for i := range out {
			out[i] = int64(int8(data[i]))
		}
	case "<u1", "<b1":
		for i := range out {
			out[i] = int64(data[i])
		}
	case "<i2":
		for i := range out {
			out[i] = int64(int16(binary.LittleEndian.Uint16(data[2*i:])))
		}
	case "<u2":
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint16(data[2*i:]))
		}
	case "<i4":
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(data[4*i:])))
		}
	case "<u4":
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint32(data[4*i:]))
		}
	case "<i8":
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(data[8*i:]))
		}
	case "<u8":
		for i := range out {
			v := binary.LittleEndian.Uint64(data[8*i:])
			if v > math.MaxInt64 {
				return nil, fmt.Errorf("%w: uint64 value %d out of range", ErrFormat, v)
			}
			out[i] = int64(v)
		}
	default:
		return nil, fmt.Errorf("%w: dtype %s is not an integer type (little-endian)", ErrFormat, h.DType)
	}
	return out, nil
}

// ReadFloat32 reads a float16/32/64 array as float32.
func ReadFloat32(path string) ([]float32, []int, error) {
	h, data, err := ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	v, err := ToFloat32(h, data)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return v, h.Shape, nil
}

// ReadInt32 reads an integer array as int32 (values must fit).
func ReadInt32(path string) ([]int32, []int, error) {
	h, data, err := ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	v, err := ToInt64(h, data)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	out := make([]int32, len(v))
	for i, x := range v {
		if x < math.MinInt32 || x > math.MaxInt32 {
			return nil, nil, fmt.Errorf("read %s: %w: value %d at index %d does not fit int32", path, ErrFormat, x, i)
		}
		out[i] = int32(x)
	}
	return out, h.Shape, nil
}

// EncodeHeader returns a version 1.0 header (padded to 64 bytes as numpy
// does) for dtype and shape.
func EncodeHeader(dtype string, shape []int) []byte {
	var sb strings.Builder
	sb.WriteString("{'descr': '")
	sb.WriteString(dtype)
	sb.WriteString("', 'fortran_order': False, 'shape': (")
	for i, d := range shape {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		sb.WriteString(",")
	}
	sb.WriteString("), }")
	hdr := sb.String()
	total := len(magic) + 2 + 2 + len(hdr) + 1
	pad := (64 - total%64) % 64
	hdr += strings.Repeat(" ", pad) + "\n"
	out := make([]byte, 0, len(magic)+4+len(hdr))
	out = append(out, magic...)
	out = append(out, 1, 0)
	out = binary.LittleEndian.AppendUint16(out, uint16(len(hdr)))
	out = append(out, hdr...)
	return out
}

// WriteFloat32 writes data with the given shape as "<f4", atomically.
func WriteFloat32(path string, data []float32, shape ...int) error {
	return write(path, "<f4", data, shape, func(b []byte, v float32) []byte {
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	})
}

// WriteInt32 writes data with the given shape as "<i4", atomically.
func WriteInt32(path string, data []int32, shape ...int) error {
	return write(path, "<i4", data, shape, func(b []byte, v int32) []byte {
		return binary.LittleEndian.AppendUint32(b, uint32(v))
	})
}

// write encodes data in 64 KiB chunks behind the header, atomically.
func write[T any](path, dtype string, data []T, shape []int, appendOne func([]byte, T) []byte) error {
	if err := checkShape(len(data), shape); err != nil {
		return err
	}
	return WriteAtomic(path, func(w io.Writer) error {
		if _, err := w.Write(EncodeHeader(dtype, shape)); err != nil {
			return err
		}
		buf := make([]byte, 0, 1<<16)
		for _, v := range data {
			buf = appendOne(buf, v)
			if len(buf) >= 1<<16-8 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
		_, err := w.Write(buf)
		return err
	})
}

func checkShape(n int, shape []int) error {
	c := 1
	for _, d := range shape {
		c *= d
	}
	if c != n || len(shape) == 0 {
		return fmt.Errorf("npy: shape %v does not hold %d values", shape, n)
	}
	return nil
}

// WriteAtomic writes a file through a temporary file in the same directory,
// fsyncs it and renames it into place, so readers never see a partial file.
func WriteAtomic(path string, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = write(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return commitTemp(f, path)
}

// commitTemp fsyncs and closes the temporary file f and renames it to
// path, then syncs the directory so the rename survives a crash.
func commitTemp(f *os.File, path string) error {
	// CreateTemp makes the file private (0600); a finished array is as
	// readable as any file the user writes.
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	if d, derr := os.Open(filepath.Dir(path)); derr == nil {
		_ = d.Sync() // make the rename durable; best effort on filesystems that refuse
		d.Close()
	}
	return nil
}

// halfToFloat32 converts an IEEE 754 binary16 value.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}
