package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// NumPy arrays as pickles hold them. Protocols 0-4: the global
// numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b') makes an
// empty array, and BUILD gives it the state (version, shape, dtype,
// is_fortran, raw data) where the raw data is a byte string (Python 2 str,
// bytes, or a str to encode as Latin-1). Protocol 5:
// numpy.core.numeric._frombuffer(buffer, dtype, shape, order). A dtype is
// numpy.dtype('u1', align, copy) with BUILD state (version, byte order,
// subarray, names, fields, elsize, alignment, flags).

// npDtype is a plain numeric NumPy dtype.
type npDtype struct {
	kind  byte // 'u', 'i', 'b' (bool), 'f'
	size  int  // bytes per element
	order byte // '<', '>' or '|' (no byte order: one byte, or as the machine)
}

func (d *npDtype) String() string { return fmt.Sprintf("%c%c%d", d.order, d.kind, d.size) }

// bigEndian tells whether multi-byte elements are stored big-endian ('='
// means the writer's machine; every machine NumPy pickles come from is
// little-endian).
func (d *npDtype) bigEndian() bool { return d.order == '>' }

// ndArray is a decoded NumPy array. data aliases the pickle's bytes.
type ndArray struct {
	dtype   *npDtype
	shape   []int
	fortran bool
	data    []byte
	built   bool // false between _reconstruct and BUILD
}

// maxElements bounds the element count a shape may announce, so that the
// size arithmetic cannot overflow on a garbled shape.
const maxElements = 1 << 40

// parseDtype parses a dtype string such as "u1", "<i8" or "|b1".
func parseDtype(spec string) (*npDtype, error) {
	d := &npDtype{order: '|'}
	s := spec
	if s != "" && strings.ContainsRune("<>|=", rune(s[0])) {
		d.order, s = s[0], s[1:]
	}
	if len(s) < 2 || !strings.ContainsRune("uibf", rune(s[0])) {
		return nil, fmt.Errorf("dtype %q is not a plain numeric type (CIFAR arrays are uint8)", spec)
	}
	d.kind = s[0]
	switch s[1:] {
	case "1":
		d.size = 1
	case "2":
		d.size = 2
	case "4":
		d.size = 4
	case "8":
		d.size = 8
	default:
		return nil, fmt.Errorf("dtype %q has an unsupported element size", spec)
	}
	if d.kind == 'f' && d.size < 4 || d.kind == 'b' && d.size != 1 {
		return nil, fmt.Errorf("dtype %q is not supported", spec)
	}
	return d, nil
}

// callGlobal interprets a call (REDUCE) of one of the allowed globals.
func callGlobal(g pyGlobal, args pyTuple) (any, error) {
	switch g.name {
	case "_reconstruct": // (numpy.ndarray, shape, typecode): an empty array awaiting BUILD
		if len(args) != 3 {
			return nil, fmt.Errorf("%s takes 3 arguments, got %d", pyTypeName(g), len(args))
		}
		if cls, ok := args[0].(pyGlobal); !ok || cls.name != "ndarray" {
			return nil, fmt.Errorf("%s reconstructs a %s; only numpy.ndarray is supported", pyTypeName(g), pyTypeName(args[0]))
		}
		return &ndArray{}, nil
	case "dtype": // numpy.dtype(spec, align, copy)
		if len(args) < 1 || len(args) > 3 {
			return nil, fmt.Errorf("numpy.dtype takes 1 to 3 arguments, got %d", len(args))
		}
		spec, ok := textOf(args[0])
		if !ok {
			return nil, fmt.Errorf("numpy.dtype of a %s; want a type string such as 'u1'", pyTypeName(args[0]))
		}
		return parseDtype(spec)
	case "_frombuffer": // (buffer, dtype, shape, order)
		if len(args) != 4 {
			return nil, fmt.Errorf("%s takes 4 arguments, got %d", pyTypeName(g), len(args))
		}
		buf, ok := args[0].(pyBytes)
		if !ok {
			return nil, fmt.Errorf("%s of a %s; want a byte buffer", pyTypeName(g), pyTypeName(args[0]))
		}
		order, _ := textOf(args[3])
		if order != "C" && order != "F" {
			return nil, fmt.Errorf("%s: order %v is neither 'C' nor 'F'", pyTypeName(g), args[3])
		}
		a := &ndArray{}
		return a, a.set(args[2], args[1], order == "F", buf)
	case "scalar": // numpy.core.multiarray.scalar(dtype, bytes): a NumPy number
		return npScalar(args)
	case "encode": // _codecs.encode(str, encoding): how Python 3 writes bytes in protocols 0-2
		if len(args) < 1 || len(args) > 2 {
			return nil, fmt.Errorf("_codecs.encode takes 1 or 2 arguments, got %d", len(args))
		}
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("_codecs.encode of a %s; want a str", pyTypeName(args[0]))
		}
		enc := "utf-8"
		if len(args) == 2 {
			if enc, ok = textOf(args[1]); !ok {
				return nil, fmt.Errorf("_codecs.encode: encoding is a %s, want a str", pyTypeName(args[1]))
			}
		}
		switch strings.ToLower(strings.ReplaceAll(enc, "_", "-")) {
		case "latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1":
			b, err := latin1(s)
			return pyBytes(b), err
		case "utf-8", "utf8":
			return pyBytes(s), nil
		}
		return nil, fmt.Errorf("_codecs.encode with encoding %q is not supported (Latin-1 and UTF-8 are)", enc)
	case "bytes": // bytes() or bytes(b'...'): how Python 3 writes b'' in protocols 0-2
		switch {
		case len(args) == 0:
			return pyBytes{}, nil
		case len(args) == 1:
			if b, ok := args[0].(pyBytes); ok {
				return b, nil
			}
		}
		return nil, fmt.Errorf("bytes() is only supported without arguments or of bytes")
	}
	return nil, fmt.Errorf("%s cannot be called", pyTypeName(g))
}

// build interprets BUILD (setting an object's state).
func build(obj, state any) error {
	switch o := obj.(type) {
	case *npDtype:
		t, ok := state.(pyTuple)
		if !ok || len(t) < 2 {
			return fmt.Errorf("numpy.dtype state is a %s, want a tuple (version, byte order, ...)", pyTypeName(state))
		}
		if _, isText := textOf(t[0]); isText && len(t) == 5 {
			// Version 0, from the oldest NumPy: (byte order, subarray,
			// fields, elsize, alignment).
			t = append(pyTuple{int64(0)}, t...)
		}
		order, ok := textOf(t[1])
		if !ok || len(order) != 1 || !strings.Contains("<>|=", order) {
			return fmt.Errorf("numpy.dtype state has byte order %v, want one of < > | =", t[1])
		}
		if len(t) >= 4 && (t[2] != nil || t[3] != nil) {
			return fmt.Errorf("structured or sub-array dtypes are not supported (CIFAR arrays are plain uint8)")
		}
		o.order = order[0]
		return nil
	case *ndArray:
		if o.built {
			return fmt.Errorf("numpy.ndarray state set twice")
		}
		t, ok := state.(pyTuple)
		if ok && len(t) == 5 { // version first (NumPy writes version 1)
			t = t[1:]
		}
		if !ok || len(t) != 4 {
			return fmt.Errorf("numpy.ndarray state is a %s, want a tuple (version, shape, dtype, is_fortran, data)", describeState(state))
		}
		fortran, ok := truth(t[2])
		if !ok {
			return fmt.Errorf("numpy.ndarray state: is_fortran is a %s", pyTypeName(t[2]))
		}
		var raw []byte
		switch d := t[3].(type) {
		case pyBytes:
			raw = d
		case string: // Python 2 str read back as text; NumPy encodes it as Latin-1
			var err error
			if raw, err = latin1(d); err != nil {
				return fmt.Errorf("numpy.ndarray data: %v", err)
			}
		case *pyList:
			return fmt.Errorf("numpy.ndarray of Python objects (dtype object) is not supported; CIFAR arrays are uint8")
		default:
			return fmt.Errorf("numpy.ndarray data is a %s, want bytes", pyTypeName(t[3]))
		}
		return o.set(t[0], t[1], fortran, raw)
	}
	return fmt.Errorf("cannot set the state of a %s", pyTypeName(obj))
}

func describeState(state any) string {
	if t, ok := state.(pyTuple); ok {
		return fmt.Sprintf("tuple of %d", len(t))
	}
	return pyTypeName(state)
}

// set fills an array from its shape, dtype, order and raw bytes, checking
// that the bytes match the shape exactly.
func (a *ndArray) set(shapeV, dtypeV any, fortran bool, raw []byte) error {
	dt, ok := dtypeV.(*npDtype)
	if !ok {
		return fmt.Errorf("numpy.ndarray dtype is a %s", pyTypeName(dtypeV))
	}
	st, ok := shapeV.(pyTuple)
	if !ok {
		return fmt.Errorf("numpy.ndarray shape is a %s, want a tuple", pyTypeName(shapeV))
	}
	shape := make([]int, len(st))
	count := uint64(1)
	for i, v := range st {
		n, ok := v.(int64)
		if !ok || n < 0 {
			return fmt.Errorf("numpy.ndarray shape %v: dimension %d is not a non-negative int", st, i)
		}
		shape[i] = int(n)
		if n > 0 && count > maxElements/uint64(n) {
			return fmt.Errorf("numpy.ndarray shape %v announces more than %d elements", shape[:i+1], uint64(maxElements))
		}
		count *= uint64(n)
	}
	if want := count * uint64(dt.size); uint64(len(raw)) != want {
		return fmt.Errorf("numpy.ndarray of shape %v and dtype %s needs %d bytes of data, the pickle holds %d", shape, dt, want, len(raw))
	}
	a.dtype, a.shape, a.fortran, a.data, a.built = dt, shape, fortran, raw, true
	return nil
}

// ints returns the elements of an integer (or bool) array as int64, in
// logical order (1-D arrays only).
func (a *ndArray) ints() ([]int64, error) {
	if !a.built || len(a.shape) != 1 {
		return nil, fmt.Errorf("want a 1-dimensional array, got shape %v", a.shape)
	}
	if a.dtype.kind == 'f' {
		return nil, fmt.Errorf("want integers, got dtype %s", a.dtype)
	}
	out := make([]int64, a.shape[0])
	for i := range out {
		out[i] = a.dtype.intAt(a.data[i*a.dtype.size:])
	}
	return out, nil
}

// intAt decodes one integer element at the start of b.
func (d *npDtype) intAt(b []byte) int64 {
	var u uint64
	switch d.size {
	case 1:
		u = uint64(b[0])
	case 2:
		u = uint64(pickOrder(d).Uint16(b))
	case 4:
		u = uint64(pickOrder(d).Uint32(b))
	case 8:
		u = pickOrder(d).Uint64(b)
	}
	if d.kind == 'i' { // sign-extend
		shift := 64 - 8*uint(d.size)
		return int64(u<<shift) >> shift
	}
	return int64(u)
}

func pickOrder(d *npDtype) binary.ByteOrder {
	if d.bigEndian() {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// npScalar decodes numpy.core.multiarray.scalar(dtype, raw bytes), as a
// NumPy integer in a list of labels would be pickled.
func npScalar(args pyTuple) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("numpy scalar takes 2 arguments, got %d", len(args))
	}
	dt, ok := args[0].(*npDtype)
	if !ok {
		return nil, fmt.Errorf("numpy scalar of dtype %s", pyTypeName(args[0]))
	}
	var raw []byte
	switch b := args[1].(type) {
	case pyBytes:
		raw = b
	case string:
		var err error
		if raw, err = latin1(b); err != nil {
			return nil, fmt.Errorf("numpy scalar: %v", err)
		}
	default:
		return nil, fmt.Errorf("numpy scalar data is a %s", pyTypeName(args[1]))
	}
	if len(raw) != dt.size {
		return nil, fmt.Errorf("numpy scalar of dtype %s needs %d bytes, got %d", dt, dt.size, len(raw))
	}
	switch dt.kind {
	case 'b':
		return raw[0] != 0, nil
	case 'f':
		if dt.size == 4 {
			return float64(math.Float32frombits(pickOrder(dt).Uint32(raw))), nil
		}
		return math.Float64frombits(pickOrder(dt).Uint64(raw)), nil
	case 'u':
		if v := dt.intAt(raw); dt.size == 8 && v < 0 {
			return nil, fmt.Errorf("numpy uint64 scalar %d does not fit an int64", uint64(v))
		}
	}
	return dt.intAt(raw), nil
}

// latin1 encodes text whose characters are all below 256 as Latin-1 bytes
// (how NumPy and _codecs turn Python 2 strings read as text back into
// bytes).
func latin1(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i, r := range s {
		if r > 0xFF { // includes utf8.RuneError for invalid UTF-8
			return nil, fmt.Errorf("text has character %U at byte %d, which Latin-1 cannot encode", r, i)
		}
		out = append(out, byte(r))
	}
	return out, nil
}

// textOf returns a str or bytes value as Go text.
func textOf(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case pyBytes:
		return string(v), true
	}
	return "", false
}

// truth interprets the bools (or 0/1 ints, as Python 2 wrote them) of
// NumPy state tuples.
func truth(v any) (bool, bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case int64:
		return v != 0, true
	}
	return false, false
}
