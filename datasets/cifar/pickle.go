package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A minimal, safe decoder for Python pickles (protocols 0 to 5), enough for
// the CIFAR python version: dicts, lists, tuples, ints, strings and bytes,
// and NumPy arrays. The original files were written by Python 2's cPickle
// with protocol 2; files re-pickled by Python 3 use _codecs.encode for bytes
// (protocols 0-2) or the protocol 3-5 opcodes, and NumPy 2 names its
// modules numpy._core. All of these decode.
//
// It never runs code: a pickle can only name the few globals below (NumPy's
// array reconstruction and dtype, _codecs.encode, bytes), which are
// interpreted here; any other global is an error. Every length is checked
// against the bytes that remain before anything is allocated, so the memory
// used stays proportional to the input.
//
// Why not github.com/nlpodyssey/gopickle (served by the module proxy,
// v0.2.0): it allocates whatever length a BINBYTES8/BINUNICODE8 header
// announces, reports no offsets, and would still need NumPy's classes
// written against its interfaces; the part CIFAR needs is this file.

// Python values as decoded here: nil (None), bool, int64, *big.Int (integers
// beyond int64), float64, string (Python 3 str / Python 2 unicode, UTF-8),
// pyBytes (Python 2 str, Python 3 bytes and bytearray), pyTuple, *pyList,
// *pyDict, *pySet, pyGlobal, *ndArray and *npDtype.
type (
	pyBytes []byte
	pyTuple []any
	pyList  struct{ items []any }
	pySet   struct {
		items  []any
		frozen bool
	}
	// pyGlobal is one of the allowed globals (see allowedGlobals).
	pyGlobal struct{ module, name string }
)

// pyDict keeps insertion order; index maps a key's hash form (hashKey) to
// its position.
type pyDict struct {
	keys, vals []any
	index      map[string]int
}

func newDict() *pyDict { return &pyDict{index: map[string]int{}} }

func (d *pyDict) set(k, v any) error {
	h, err := hashKey(k, 0)
	if err != nil {
		return err
	}
	if i, ok := d.index[h]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[h] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

// get looks name up as a str key, then as a bytes key: Python 2 wrote str
// (bytes) keys, which Python 3 reads as str with encoding="latin1" and as
// bytes with encoding="bytes"; a Python 3 pickle may hold either.
func (d *pyDict) get(name string) (any, bool) {
	for _, h := range []string{"u" + name, "b" + name} {
		if i, ok := d.index[h]; ok {
			return d.vals[i], true
		}
	}
	return nil, false
}

// keyNames lists the dict's string keys, for error messages.
func (d *pyDict) keyNames() string {
	var names []string
	for _, k := range d.keys {
		switch k := k.(type) {
		case string:
			names = append(names, strconv.Quote(k))
		case pyBytes:
			names = append(names, "b"+strconv.Quote(string(k)))
		default:
			names = append(names, pyTypeName(k))
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// maxKeyDepth bounds the nesting of tuple keys hashKey walks.
const maxKeyDepth = 32

// hashKey renders a hashable Python value as a string, equal for equal
// keys (as far as CIFAR files need: True and 1 are one key, as in Python).
func hashKey(v any, depth int) (string, error) {
	if depth > maxKeyDepth {
		return "", fmt.Errorf("dict key nested more than %d tuples deep", maxKeyDepth)
	}
	switch v := v.(type) {
	case nil:
		return "N", nil
	case bool:
		if v {
			return "i1", nil
		}
		return "i0", nil
	case int64:
		return "i" + strconv.FormatInt(v, 10), nil
	case *big.Int:
		return "i" + v.String(), nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<62 {
			return "i" + strconv.FormatInt(int64(v), 10), nil
		}
		return "f" + strconv.FormatFloat(v, 'g', -1, 64), nil
	case string:
		return "u" + v, nil
	case pyBytes:
		return "b" + string(v), nil
	case pyTuple:
		var b strings.Builder
		b.WriteString("t" + strconv.Itoa(len(v)) + "(")
		for _, e := range v {
			h, err := hashKey(e, depth+1)
			if err != nil {
				return "", err
			}
			b.WriteString(strconv.Itoa(len(h)) + ":" + h)
		}
		b.WriteString(")")
		return b.String(), nil
	}
	return "", fmt.Errorf("unhashable dict key of type %s", pyTypeName(v))
}

// pyTypeName names a decoded value's Python type, for error messages.
func pyTypeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case pyBytes:
		return "bytes"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case *pySet:
		if v.frozen {
			return "frozenset"
		}
		return "set"
	case pyGlobal:
		return v.module + "." + v.name
	case *ndArray:
		return "numpy.ndarray"
	case *npDtype:
		return "numpy.dtype"
	}
	return fmt.Sprintf("%T", v)
}

// PickleError is a malformed or unsupported pickle; Offset is the byte
// offset of the opcode at fault.
type PickleError struct {
	Offset int64
	Op     string // opcode name, "" when not about one opcode
	Msg    string
}

func (e *PickleError) Error() string {
	if e.Op != "" {
		return fmt.Sprintf("pickle opcode %s at byte offset %d: %s", e.Op, e.Offset, e.Msg)
	}
	return fmt.Sprintf("pickle at byte offset %d: %s", e.Offset, e.Msg)
}

// maxProto is the newest pickle protocol this decoder knows.
const maxProto = 5

// opNames names the opcodes, for error messages. Opcodes absent here are
// unknown to every Python version.
var opNames = map[byte]string{
	'(': "MARK", '.': "STOP", '0': "POP", '1': "POP_MARK", '2': "DUP", 'F': "FLOAT", 'I': "INT",
	'J': "BININT", 'K': "BININT1", 'L': "LONG", 'M': "BININT2", 'N': "NONE", 'P': "PERSID",
	'Q': "BINPERSID", 'R': "REDUCE", 'S': "STRING", 'T': "BINSTRING", 'U': "SHORT_BINSTRING",
	'V': "UNICODE", 'X': "BINUNICODE", 'a': "APPEND", 'b': "BUILD", 'c': "GLOBAL", 'd': "DICT",
	'}': "EMPTY_DICT", 'e': "APPENDS", 'g': "GET", 'h': "BINGET", 'i': "INST", 'j': "LONG_BINGET",
	'l': "LIST", ']': "EMPTY_LIST", 'o': "OBJ", 'p': "PUT", 'q': "BINPUT", 'r': "LONG_BINPUT",
	's': "SETITEM", 't': "TUPLE", ')': "EMPTY_TUPLE", 'u': "SETITEMS", 'G': "BINFLOAT",
	0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1",
	0x86: "TUPLE2", 0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8a: "LONG1", 0x8b: "LONG4",
	'B': "BINBYTES", 'C': "SHORT_BINBYTES", 0x8c: "SHORT_BINUNICODE", 0x8d: "BINUNICODE8",
	0x8e: "BINBYTES8", 0x8f: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX",
	0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER",
	0x98: "READONLY_BUFFER",
}

// unpickler is the pickle machine: a stack, the stacks saved by MARK, and
// the memo.
type unpickler struct {
	data  []byte
	pos   int // next byte to read
	op    byte
	start int // offset of the current opcode
	stack []any
	marks [][]any
	memo  map[uint64]any
}

// unpickle decodes one pickle that fills data exactly. Byte strings in the
// result alias data (the CIFAR pixel arrays are not copied).
func unpickle(data []byte) (any, error) {
	u := &unpickler{data: data, memo: map[uint64]any{}}
	for {
		if u.pos >= len(u.data) {
			return nil, &PickleError{Offset: int64(len(u.data)), Msg: "data ends before the STOP opcode; the file is truncated or not a pickle"}
		}
		u.start, u.op = u.pos, u.data[u.pos]
		u.pos++
		done, err := u.step()
		if err != nil {
			return nil, err
		}
		if done {
			if len(u.marks) != 0 || len(u.stack) != 1 {
				return nil, u.fail("STOP with %d values on the stack and %d open MARKs; a pickle ends with exactly one value", len(u.stack), len(u.marks))
			}
			if rest := len(u.data) - u.pos; rest != 0 {
				return nil, &PickleError{Offset: int64(u.pos), Msg: fmt.Sprintf("%d bytes follow the STOP opcode; the file is garbled or holds more than one pickle", rest)}
			}
			return u.stack[0], nil
		}
	}
}

func (u *unpickler) fail(format string, args ...any) error {
	name, ok := opNames[u.op]
	if !ok {
		name = fmt.Sprintf("0x%02x", u.op)
	}
	return &PickleError{Offset: int64(u.start), Op: name, Msg: fmt.Sprintf(format, args...)}
}

// read returns the next n bytes, checking n against what remains.
func (u *unpickler) read(n uint64) ([]byte, error) {
	if rest := uint64(len(u.data) - u.pos); n > rest {
		return nil, u.fail("needs %d bytes but only %d remain; the file is truncated or garbled", n, rest)
	}
	b := u.data[u.pos : u.pos+int(n)]
	u.pos += int(n)
	return b, nil
}

// readLine returns the text up to the next newline (protocol 0 arguments).
func (u *unpickler) readLine() ([]byte, error) {
	for i := u.pos; i < len(u.data); i++ {
		if u.data[i] == '\n' {
			line := u.data[u.pos:i]
			u.pos = i + 1
			return line, nil
		}
	}
	return nil, u.fail("argument line has no terminating newline; the file is truncated or garbled")
}

func (u *unpickler) uint(n int) (uint64, error) {
	b, err := u.read(uint64(n))
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 {
		return nil, u.fail("stack is empty")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 {
		return nil, u.fail("stack is empty")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns the values pushed since the last MARK and restores the
// stack that MARK saved.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.fail("no MARK to close")
	}
	items := u.stack
	u.stack = u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	return items, nil
}

// step runs one opcode; done is true at STOP.
func (u *unpickler) step() (done bool, err error) {
	switch u.op {
	case 0x80: // PROTO
		v, err := u.uint(1)
		if err != nil {
			return false, err
		}
		if v > maxProto {
			return false, u.fail("protocol %d is newer than the newest known, %d", v, maxProto)
		}
	case 0x95: // FRAME: a length prefix for buffered reading; nothing to do.
		n, err := u.uint(8)
		if err != nil {
			return false, err
		}
		if rest := uint64(len(u.data) - u.pos); n > rest {
			return false, u.fail("frame of %d bytes but only %d remain; the file is truncated", n, rest)
		}
	case '.': // STOP
		return true, nil

	case '(': // MARK
		u.marks = append(u.marks, u.stack)
		u.stack = make([]any, 0, 4)
	case '0': // POP (of an empty stack pops the mark, as CPython does)
		if len(u.stack) == 0 && len(u.marks) > 0 {
			_, err = u.popMark()
			return false, err
		}
		_, err = u.pop()
	case '1': // POP_MARK
		_, err = u.popMark()
	case '2': // DUP
		var v any
		if v, err = u.top(); err == nil {
			u.push(v)
		}

	case 'N':
		u.push(nil)
	case 0x88:
		u.push(true)
	case 0x89:
		u.push(false)
	case 'K', 'M', 'J': // BININT1, BININT2, BININT
		n := 4
		switch u.op {
		case 'K':
			n = 1
		case 'M':
			n = 2
		}
		var v uint64
		if v, err = u.uint(n); err == nil {
			if u.op == 'J' {
				u.push(int64(int32(uint32(v))))
			} else {
				u.push(int64(v))
			}
		}
	case 0x8a, 0x8b: // LONG1, LONG4: little-endian two's complement
		var n uint64
		if u.op == 0x8a {
			n, err = u.uint(1)
		} else {
			n, err = u.uint(4)
		}
		if err != nil {
			return false, err
		}
		var b []byte
		if b, err = u.read(n); err == nil {
			u.push(decodeLong(b))
		}
	case 'I', 'L': // INT, LONG: decimal text
		var line []byte
		if line, err = u.readLine(); err != nil {
			return false, err
		}
		s := string(line)
		if u.op == 'I' && (s == "01" || s == "00") { // how protocol 0 writes True and False
			u.push(s == "01")
			return false, nil
		}
		s = strings.TrimSuffix(s, "L")
		v, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return false, u.fail("%q is not a decimal integer", line)
		}
		u.push(normInt(v))
	case 'F': // FLOAT: text
		var line []byte
		if line, err = u.readLine(); err != nil {
			return false, err
		}
		f, perr := strconv.ParseFloat(string(line), 64)
		if perr != nil {
			return false, u.fail("%q is not a float", line)
		}
		u.push(f)
	case 'G': // BINFLOAT: big-endian float64
		var b []byte
		if b, err = u.read(8); err == nil {
			u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		}

	case 'S': // STRING: a Python 2 str literal
		var line []byte
		if line, err = u.readLine(); err != nil {
			return false, err
		}
		b, perr := unquotePy2(line)
		if perr != nil {
			return false, u.fail("%v", perr)
		}
		u.push(pyBytes(b))
	case 'T', 'U', 'B', 'C', 0x8e, 0x96: // BINSTRING, SHORT_BINSTRING, BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
		var n uint64
		switch u.op {
		case 'U', 'C':
			n, err = u.uint(1)
		case 'T':
			n, err = u.uint(4)
			if err == nil && int32(uint32(n)) < 0 {
				return false, u.fail("negative length %d", int32(uint32(n)))
			}
		case 'B':
			n, err = u.uint(4)
		default:
			n, err = u.uint(8)
		}
		if err != nil {
			return false, err
		}
		var b []byte
		if b, err = u.read(n); err == nil {
			u.push(pyBytes(b))
		}
	case 'V': // UNICODE: raw-unicode-escape text
		var line []byte
		if line, err = u.readLine(); err != nil {
			return false, err
		}
		s, perr := decodeRawUnicodeEscape(line)
		if perr != nil {
			return false, u.fail("%v", perr)
		}
		u.push(s)
	case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8: UTF-8
		var n uint64
		switch u.op {
		case 0x8c:
			n, err = u.uint(1)
		case 'X':
			n, err = u.uint(4)
		default:
			n, err = u.uint(8)
		}
		if err != nil {
			return false, err
		}
		var b []byte
		if b, err = u.read(n); err == nil {
			u.push(string(b))
		}
	case 0x98: // READONLY_BUFFER: makes the buffer on top read-only; no-op here.
		var v any
		if v, err = u.top(); err == nil {
			if _, ok := v.(pyBytes); !ok {
				return false, u.fail("applies to a buffer, not a %s", pyTypeName(v))
			}
		}

	case ')':
		u.push(pyTuple{})
	case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
		n := int(u.op - 0x84)
		if len(u.stack) < n {
			return false, u.fail("needs %d values, the stack holds %d", n, len(u.stack))
		}
		t := append(pyTuple(nil), u.stack[len(u.stack)-n:]...)
		u.stack = u.stack[:len(u.stack)-n]
		u.push(t)
	case 't':
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(pyTuple(items))
		}
	case ']':
		u.push(&pyList{})
	case 'l':
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(&pyList{items: items})
		}
	case 'a': // APPEND
		var v, l any
		if v, err = u.pop(); err != nil {
			return false, err
		}
		if l, err = u.top(); err != nil {
			return false, err
		}
		list, ok := l.(*pyList)
		if !ok {
			return false, u.fail("appends to a %s, not a list", pyTypeName(l))
		}
		list.items = append(list.items, v)
	case 'e': // APPENDS
		var items []any
		if items, err = u.popMark(); err != nil {
			return false, err
		}
		var l any
		if l, err = u.top(); err != nil {
			return false, err
		}
		list, ok := l.(*pyList)
		if !ok {
			return false, u.fail("appends to a %s, not a list", pyTypeName(l))
		}
		list.items = append(list.items, items...)
	case '}':
		u.push(newDict())
	case 'd': // DICT
		var items []any
		if items, err = u.popMark(); err != nil {
			return false, err
		}
		d := newDict()
		if err = u.setItems(d, items); err == nil {
			u.push(d)
		}
	case 's', 'u': // SETITEM, SETITEMS
		var items []any
		if u.op == 's' {
			if len(u.stack) < 2 {
				return false, u.fail("needs a key and a value, the stack holds %d values", len(u.stack))
			}
			items = u.stack[len(u.stack)-2:]
			u.stack = u.stack[:len(u.stack)-2]
		} else if items, err = u.popMark(); err != nil {
			return false, err
		}
		var top any
		if top, err = u.top(); err != nil {
			return false, err
		}
		d, ok := top.(*pyDict)
		if !ok {
			return false, u.fail("sets items of a %s, not a dict", pyTypeName(top))
		}
		err = u.setItems(d, items)
	case 0x8f:
		u.push(&pySet{})
	case 0x90: // ADDITEMS
		var items []any
		if items, err = u.popMark(); err != nil {
			return false, err
		}
		var top any
		if top, err = u.top(); err != nil {
			return false, err
		}
		s, ok := top.(*pySet)
		if !ok || s.frozen {
			return false, u.fail("adds items to a %s, not a set", pyTypeName(top))
		}
		s.items = append(s.items, items...)
	case 0x91: // FROZENSET
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(&pySet{items: items, frozen: true})
		}

	case 'p', 'q', 'r', 0x94: // PUT, BINPUT, LONG_BINPUT, MEMOIZE
		var idx uint64
		switch u.op {
		case 'p':
			idx, err = u.decimalArg()
		case 'q':
			idx, err = u.uint(1)
		case 'r':
			idx, err = u.uint(4)
		default:
			idx = uint64(len(u.memo))
		}
		if err != nil {
			return false, err
		}
		var v any
		if v, err = u.top(); err == nil {
			u.memo[idx] = v
		}
	case 'g', 'h', 'j': // GET, BINGET, LONG_BINGET
		var idx uint64
		switch u.op {
		case 'g':
			idx, err = u.decimalArg()
		case 'h':
			idx, err = u.uint(1)
		default:
			idx, err = u.uint(4)
		}
		if err != nil {
			return false, err
		}
		v, ok := u.memo[idx]
		if !ok {
			return false, u.fail("memo entry %d was never stored", idx)
		}
		u.push(v)

	case 'c': // GLOBAL: module and name on two lines
		var mod, name []byte
		if mod, err = u.readLine(); err != nil {
			return false, err
		}
		if name, err = u.readLine(); err != nil {
			return false, err
		}
		var g pyGlobal
		if g, err = u.global(string(mod), string(name)); err == nil {
			u.push(g)
		}
	case 0x93: // STACK_GLOBAL
		var mod, name any
		if name, err = u.pop(); err != nil {
			return false, err
		}
		if mod, err = u.pop(); err != nil {
			return false, err
		}
		ms, ok1 := mod.(string)
		ns, ok2 := name.(string)
		if !ok1 || !ok2 {
			return false, u.fail("module and name must be str, got %s and %s", pyTypeName(mod), pyTypeName(name))
		}
		var g pyGlobal
		if g, err = u.global(ms, ns); err == nil {
			u.push(g)
		}
	case 'R': // REDUCE: call a global with a tuple of arguments
		var args, fn any
		if args, err = u.pop(); err != nil {
			return false, err
		}
		if fn, err = u.pop(); err != nil {
			return false, err
		}
		g, ok := fn.(pyGlobal)
		if !ok {
			return false, u.fail("calls a %s, which is not callable", pyTypeName(fn))
		}
		t, ok := args.(pyTuple)
		if !ok {
			return false, u.fail("arguments of %s must be a tuple, got %s", pyTypeName(g), pyTypeName(args))
		}
		var v any
		if v, err = callGlobal(g, t); err != nil {
			return false, u.fail("%v", err)
		}
		u.push(v)
	case 'b': // BUILD: set the state of the object below
		var state, obj any
		if state, err = u.pop(); err != nil {
			return false, err
		}
		if obj, err = u.top(); err != nil {
			return false, err
		}
		if err = build(obj, state); err != nil {
			return false, u.fail("%v", err)
		}

	default:
		if name, ok := opNames[u.op]; ok {
			return false, u.fail("opcode %s (0x%02x) never occurs in CIFAR files and is not supported (it creates arbitrary objects, refers to external data or uses the extension registry)", name, u.op)
		}
		return false, u.fail("unknown opcode 0x%02x; the file is garbled or not a pickle", u.op)
	}
	return false, err
}

func (u *unpickler) decimalArg() (uint64, error) {
	line, err := u.readLine()
	if err != nil {
		return 0, err
	}
	v, perr := strconv.ParseUint(string(line), 10, 64)
	if perr != nil {
		return 0, u.fail("%q is not a memo index", line)
	}
	return v, nil
}

func (u *unpickler) setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return u.fail("odd number of values (%d) for key/value pairs", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return u.fail("%v", err)
		}
	}
	return nil
}

// allowedGlobals are the only names a pickle may refer to. numpy._core is
// NumPy 2's name for numpy.core; Python 3 maps builtins to __builtin__ in
// protocols below 3.
var allowedGlobals = map[string]bool{
	"numpy.core.multiarray._reconstruct":  true,
	"numpy._core.multiarray._reconstruct": true,
	"numpy.core.multiarray.scalar":        true,
	"numpy._core.multiarray.scalar":       true,
	"numpy.core.numeric._frombuffer":      true,
	"numpy._core.numeric._frombuffer":     true,
	"numpy.ndarray":                       true,
	"numpy.dtype":                         true,
	"_codecs.encode":                      true,
	"__builtin__.bytes":                   true,
	"builtins.bytes":                      true,
}

func (u *unpickler) global(mod, name string) (pyGlobal, error) {
	if !allowedGlobals[mod+"."+name] {
		return pyGlobal{}, u.fail("refers to %s.%s, which CIFAR files never use; only NumPy arrays and plain Python values are decoded, nothing is executed", mod, name)
	}
	return pyGlobal{module: mod, name: name}, nil
}

// decodeLong decodes a little-endian two's complement integer.
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	mag := make([]byte, len(b))
	for i, c := range b { // to big-endian
		mag[len(b)-1-i] = c
	}
	v := new(big.Int).SetBytes(mag)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return normInt(v)
}

func normInt(v *big.Int) any {
	if v.IsInt64() {
		return v.Int64()
	}
	return v
}

// unquotePy2 decodes the argument of STRING: a Python 2 str literal in
// single or double quotes, with backslash escapes.
func unquotePy2(line []byte) ([]byte, error) {
	if len(line) < 2 || (line[0] != '\'' && line[0] != '"') || line[len(line)-1] != line[0] {
		return nil, fmt.Errorf("argument %.40q is not a quoted string", line)
	}
	s := line[1 : len(line)-1]
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(s) {
			return nil, fmt.Errorf("string literal ends with a lone backslash")
		}
		switch c = s[i]; c {
		case '\\', '\'', '"':
			out = append(out, c)
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'a':
			out = append(out, '\a')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'v':
			out = append(out, '\v')
		case '\n': // line continuation
		case 'x':
			if i+2 >= len(s) {
				return nil, fmt.Errorf("truncated \\x escape in string literal")
			}
			v, err := strconv.ParseUint(string(s[i+1:i+3]), 16, 8)
			if err != nil {
				return nil, fmt.Errorf("bad \\x escape %q in string literal", s[i-1:i+3])
			}
			out = append(out, byte(v))
			i += 2
		default:
			if c >= '0' && c <= '7' { // up to three octal digits
				v, n := 0, 0
				for n < 3 && i+n < len(s) && s[i+n] >= '0' && s[i+n] <= '7' {
					v = v*8 + int(s[i+n]-'0')
					n++
				}
				out = append(out, byte(v))
				i += n - 1
				continue
			}
			out = append(out, '\\', c) // Python keeps unknown escapes
		}
	}
	return out, nil
}

// decodeRawUnicodeEscape decodes the argument of UNICODE: bytes are Latin-1
// characters, except \uXXXX and \UXXXXXXXX escapes.
func decodeRawUnicodeEscape(line []byte) (string, error) {
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '\\' && i+1 < len(line) && (line[i+1] == 'u' || line[i+1] == 'U') {
			n := 4
			if line[i+1] == 'U' {
				n = 8
			}
			if i+2+n > len(line) {
				return "", fmt.Errorf("truncated \\%c escape in unicode text", line[i+1])
			}
			v, err := strconv.ParseUint(string(line[i+2:i+2+n]), 16, 32)
			if err != nil || v > utf8.MaxRune {
				return "", fmt.Errorf("bad escape %q in unicode text", line[i:i+2+n])
			}
			b.WriteRune(rune(v))
			i += 1 + n
			continue
		}
		b.WriteRune(rune(c))
	}
	return b.String(), nil
}
