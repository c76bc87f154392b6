package tbevents

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Kind says what a Record holds.
type Kind int

const (
	// KindOther is an event this package does not decode: a graph, a
	// session log, or a tensor summary of a plugin other than scalars and
	// text (Record.Plugin names it).
	KindOther Kind = iota
	// KindFileVersion is the first record of a file (Record.Text holds
	// the version, "brain.Event:2").
	KindFileVersion
	KindScalar    // Record.Value
	KindText      // Record.Text
	KindImage     // Record.Image
	KindHistogram // Record.Histogram
)

func (k Kind) String() string {
	switch k {
	case KindFileVersion:
		return "file_version"
	case KindScalar:
		return "scalar"
	case KindText:
		return "text"
	case KindImage:
		return "image"
	case KindHistogram:
		return "histogram"
	}
	return "other"
}

// Record is one decoded value of an event file: an Event with a Summary
// of several values gives one Record per value, with the Event's step and
// wall time.
type Record struct {
	WallTime float64 // seconds since the Unix epoch
	Step     int64
	Kind     Kind
	Tag      string
	Plugin   string // SummaryMetadata plugin name, where the file says it

	Value     float64 // KindScalar
	Text      string  // KindText; the version for KindFileVersion
	Image     *Image
	Histogram *Histogram
}

// Image is a Summary.Image: the encoded image (PNG for what Writer
// writes) and what the file says of it. Colorspace is 1 grey, 2 grey and
// alpha, 3 RGB, 4 RGBA.
type Image struct {
	Width, Height, Colorspace int
	Encoded                   []byte
}

// Files lists the event files of dir in the order TensorBoard reads them
// (by name): regular files whose name contains "tfevents", TensorBoard's
// own test. It does not look into subdirectories, which TensorBoard shows
// as runs of their own.
func Files(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("tbevents: list event files: %w (check that the directory exists and is readable)", err)
	}
	var paths []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.Contains(e.Name(), "tfevents") {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(paths)
	return paths, nil
}

// ReadFile decodes the records of one event file, checking every
// checksum. A file cut short mid-record (a killed writer) ends cleanly at
// the last complete record. A damaged record (checksum mismatch, or data
// that is not an Event) ends the file: ReadFile returns the records before
// it together with an error wrapping ErrCorrupt.
func ReadFile(path string) ([]Record, error) {
	var recs []Record
	plugins := map[string]string{} // tag -> plugin, from the first value of a tag that names it
	corrupt, err := scanRecords(path, func(off int64, data []byte) error {
		ev, err := decodeEvent(data)
		if err != nil {
			return fmt.Errorf("%w: %s at offset %d: %v", ErrCorrupt, path, off, err)
		}
		out, err := ev.records(plugins)
		if err != nil {
			return fmt.Errorf("%w: %s at offset %d: %v", ErrCorrupt, path, off, err)
		}
		recs = append(recs, out...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return recs, corrupt
}

// ReadDir decodes the records of all event files of dir (see Files), file
// after file in name order. Damaged files contribute the records before
// the damage, and the error (wrapping ErrCorrupt) names each of them.
func ReadDir(dir string) ([]Record, error) {
	paths, err := Files(dir)
	if err != nil {
		return nil, err
	}
	var recs []Record
	var corrupt []error
	for _, p := range paths {
		r, err := ReadFile(p)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		if err != nil {
			corrupt = append(corrupt, err)
		}
		recs = append(recs, r...)
	}
	return recs, errors.Join(corrupt...)
}

// event is what this package needs of a decoded Event.
type event struct {
	wall        float64
	step        int64
	fileVersion *string
	summary     []byte // nil when the event holds no Summary
}

func decodeEvent(b []byte) (ev event, err error) {
	err = eachField(b, func(f field) error {
		switch f.num {
		case eventWallTime:
			v, err := f.double()
			ev.wall = v
			return err
		case eventStep:
			v, err := f.varint()
			ev.step = int64(v)
			return err
		case eventFileVersion:
			v, err := f.bytes()
			s := string(v)
			ev.fileVersion = &s
			return err
		case eventSummary:
			v, err := f.bytes()
			ev.summary = v
			if ev.summary == nil {
				ev.summary = []byte{}
			}
			return err
		}
		return nil
	})
	return ev, err
}

func (ev event) records(plugins map[string]string) ([]Record, error) {
	base := Record{WallTime: ev.wall, Step: ev.step}
	switch {
	case ev.fileVersion != nil:
		base.Kind, base.Text = KindFileVersion, *ev.fileVersion
		return []Record{base}, nil
	case ev.summary == nil:
		return []Record{base}, nil
	}
	var recs []Record
	err := eachField(ev.summary, func(f field) error {
		if f.num != summaryValue {
			return nil
		}
		v, err := f.bytes()
		if err != nil {
			return err
		}
		r, err := decodeValue(base, v, plugins)
		if err != nil {
			return err
		}
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

func decodeValue(r Record, b []byte, plugins map[string]string) (Record, error) {
	var simple *float32
	var image, histo, tensor []byte
	err := eachField(b, func(f field) error {
		var err error
		switch f.num {
		case valueTag:
			var v []byte
			v, err = f.bytes()
			r.Tag = string(v)
		case valueSimpleValue:
			var v float32
			v, err = f.float()
			simple = &v
		case valueImage:
			image, err = f.bytes()
		case valueHisto:
			histo, err = f.bytes()
		case valueTensor:
			tensor, err = f.bytes()
		case valueMetadata:
			var meta []byte
			if meta, err = f.bytes(); err == nil {
				r.Plugin, err = decodePluginName(meta)
			}
		}
		return err
	})
	if err != nil {
		return r, err
	}
	if r.Plugin != "" {
		if _, seen := plugins[r.Tag]; !seen {
			plugins[r.Tag] = r.Plugin
		}
	} else {
		r.Plugin = plugins[r.Tag]
	}
	switch {
	case simple != nil:
		r.Kind, r.Value = KindScalar, float64(*simple)
	case image != nil:
		r.Kind = KindImage
		r.Image, err = decodeImage(image)
	case histo != nil:
		r.Kind = KindHistogram
		r.Histogram, err = decodeHisto(histo)
	case tensor != nil && (r.Plugin == "text" || r.Plugin == "scalars"):
		err = decodeTensor(&r, tensor)
	}
	return r, err
}

func decodePluginName(meta []byte) (name string, err error) {
	err = eachField(meta, func(f field) error {
		if f.num != metadataPluginData {
			return nil
		}
		data, err := f.bytes()
		if err != nil {
			return err
		}
		return eachField(data, func(f field) error {
			if f.num == pluginName {
				v, err := f.bytes()
				name = string(v)
				return err
			}
			return nil
		})
	})
	return name, err
}

func decodeImage(b []byte) (*Image, error) {
	img := &Image{Encoded: []byte{}}
	err := eachField(b, func(f field) error {
		var err error
		var v uint64
		switch f.num {
		case imageHeight:
			v, err = f.varint()
			img.Height = int(int32(v))
		case imageWidth:
			v, err = f.varint()
			img.Width = int(int32(v))
		case imageColorspace:
			v, err = f.varint()
			img.Colorspace = int(int32(v))
		case imageEncoded:
			img.Encoded, err = f.bytes()
		}
		return err
	})
	return img, err
}

func decodeHisto(b []byte) (*Histogram, error) {
	h := &Histogram{}
	err := eachField(b, func(f field) error {
		var err error
		switch f.num {
		case histoMin:
			h.Min, err = f.double()
		case histoMax:
			h.Max, err = f.double()
		case histoNum:
			h.Num, err = f.double()
		case histoSum:
			h.Sum, err = f.double()
		case histoSumSquares:
			h.SumSquares, err = f.double()
		case histoBucketLimit:
			h.BucketLimit, err = f.doubles(h.BucketLimit)
		case histoBucket:
			h.Bucket, err = f.doubles(h.Bucket)
		}
		return err
	})
	return h, err
}

// decodeTensor reads the tensor summary of the text plugin (the form
// Writer.Text writes): the first string of a text tensor. (This package
// writes scalars as simple_value, which decodeValue reads.)
func decodeTensor(r *Record, b []byte) error {
	var dtype uint64
	var strs [][]byte
	err := eachField(b, func(f field) error {
		var err error
		switch f.num {
		case tensorDtype:
			dtype, err = f.varint()
		case tensorStringVal:
			var v []byte
			v, err = f.bytes()
			strs = append(strs, v)
		}
		return err
	})
	if err != nil {
		return err
	}
	if r.Plugin == "text" && dtype == dtString && len(strs) > 0 {
		r.Kind, r.Text = KindText, string(strs[0])
	}
	return nil
}

// field is one field of a protobuf message: its number and wire type,
// with the varint or fixed value in x and the bytes of a length-delimited
// field in b.
type field struct {
	num protowire.Number
	typ protowire.Type
	x   uint64
	b   []byte
}

func eachField(b []byte, fn func(field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.x = uint64(v)
		case protowire.Fixed64Type:
			f.x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func (f field) wrongType() error {
	return fmt.Errorf("field %d has wire type %d, not what event.proto says", f.num, f.typ)
}

func (f field) varint() (uint64, error) {
	if f.typ != protowire.VarintType {
		return 0, f.wrongType()
	}
	return f.x, nil
}

func (f field) double() (float64, error) {
	if f.typ != protowire.Fixed64Type {
		return 0, f.wrongType()
	}
	return math.Float64frombits(f.x), nil
}

func (f field) float() (float32, error) {
	if f.typ != protowire.Fixed32Type {
		return 0, f.wrongType()
	}
	return math.Float32frombits(uint32(f.x)), nil
}

func (f field) bytes() ([]byte, error) {
	if f.typ != protowire.BytesType {
		return nil, f.wrongType()
	}
	return f.b, nil
}

// doubles appends a repeated double, packed or not (parsers must accept
// both).
func (f field) doubles(dst []float64) ([]float64, error) {
	switch f.typ {
	case protowire.Fixed64Type:
		return append(dst, math.Float64frombits(f.x)), nil
	case protowire.BytesType:
		if len(f.b)%8 != 0 {
			return dst, fmt.Errorf("field %d: packed doubles of %d bytes", f.num, len(f.b))
		}
		for i := 0; i < len(f.b); i += 8 {
			dst = append(dst, math.Float64frombits(binary.LittleEndian.Uint64(f.b[i:])))
		}
		return dst, nil
	}
	return dst, f.wrongType()
}
