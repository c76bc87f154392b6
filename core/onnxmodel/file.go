package onnxmodel

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/onnxmodel/onnxpb"
)

// MaxFileBytes is the largest model one .onnx file can hold: protobuf
// refuses messages of 2 GiB and more. Larger models keep their weights
// as external data, which this package reads but does not write.
const MaxFileBytes = math.MaxInt32

// ErrTooLarge marks a model that does not fit one .onnx file once its
// external data is inlined.
var ErrTooLarge = errors.New("model too large for one .onnx file")

// Read reads a model file. Tensors whose data lies in external files (the
// layout of models over 2 GiB, and of some exports of smaller ones) are
// read and inlined, so the model stands alone; a model whose file and
// external data together reach limit bytes (at most MaxFileBytes) is
// refused with an error wrapping ErrTooLarge.
func Read(path string, limit int64) (*onnxpb.ModelProto, error) {
	limit = min(limit, MaxFileBytes)
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() >= limit {
		return nil, fmt.Errorf("%s: %w: %d bytes, the limit is %d", path, ErrTooLarge, st.Size(), limit)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%s is not an ONNX model: %w", path, err)
	}
	if m.GetGraph() == nil {
		return nil, fmt.Errorf("%s is not an ONNX model: it has no graph", path)
	}
	total := st.Size()
	dir := filepath.Dir(path)
	err = eachTensor(m, func(t *onnxpb.TensorProto) error {
		if t.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
			return nil
		}
		data, err := readExternal(dir, t)
		if err != nil {
			return fmt.Errorf("%s: tensor %q: %w", path, t.GetName(), err)
		}
		total += int64(len(data))
		if total >= limit {
			return fmt.Errorf("%s: %w: with its external data it holds more than %d bytes", path, ErrTooLarge, limit)
		}
		t.RawData, t.ExternalData, t.DataLocation = data, nil, nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// readExternal reads the data of a tensor stored as external data: the
// keys location (relative to the model's folder), offset and length.
func readExternal(dir string, t *onnxpb.TensorProto) ([]byte, error) {
	var location string
	var offset, length int64 = 0, -1
	for _, kv := range t.GetExternalData() {
		var err error
		switch kv.GetKey() {
		case "location":
			location = kv.GetValue()
		case "offset":
			offset, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		case "length":
			length, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		}
		if err != nil || offset < 0 {
			return nil, fmt.Errorf("external data %s=%q is not a byte count", kv.GetKey(), kv.GetValue())
		}
	}
	if location == "" {
		return nil, fmt.Errorf("external data without a location")
	}
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(location)))
	if err != nil {
		return nil, fmt.Errorf("external data: %w (it must lie beside the model as exported)", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if length < 0 {
		length = st.Size() - offset
	}
	if offset+length > st.Size() || length < 0 {
		return nil, fmt.Errorf("external data %s holds %d bytes, the tensor needs %d from offset %d", location, st.Size(), length, offset)
	}
	if length >= MaxFileBytes {
		return nil, fmt.Errorf("%w: one tensor of %d bytes", ErrTooLarge, length)
	}
	data := make([]byte, length)
	if _, err := f.ReadAt(data, offset); err != nil && !(errors.Is(err, io.EOF) && length == 0) {
		return nil, fmt.Errorf("external data %s: %w", location, err)
	}
	return data, nil
}

// eachTensor calls fn on every tensor of the model: initializers, sparse
// initializers, tensor attributes (of Constant nodes, for one), in the
// graph, its subgraphs and the model's functions.
func eachTensor(m *onnxpb.ModelProto, fn func(*onnxpb.TensorProto) error) error {
	if err := eachGraphTensor(m.GetGraph(), fn); err != nil {
		return err
	}
	for _, f := range m.GetFunctions() {
		for _, n := range f.GetNode() {
			if err := eachNodeTensor(n, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func eachGraphTensor(g *onnxpb.GraphProto, fn func(*onnxpb.TensorProto) error) error {
	if g == nil {
		return nil
	}
	for _, t := range g.GetInitializer() {
		if err := fn(t); err != nil {
			return err
		}
	}
	for _, s := range g.GetSparseInitializer() {
		if err := eachSparse(s, fn); err != nil {
			return err
		}
	}
	for _, n := range g.GetNode() {
		if err := eachNodeTensor(n, fn); err != nil {
			return err
		}
	}
	return nil
}

func eachSparse(s *onnxpb.SparseTensorProto, fn func(*onnxpb.TensorProto) error) error {
	for _, t := range []*onnxpb.TensorProto{s.GetValues(), s.GetIndices()} {
		if t != nil {
			if err := fn(t); err != nil {
				return err
			}
		}
	}
	return nil
}

func eachNodeTensor(n *onnxpb.NodeProto, fn func(*onnxpb.TensorProto) error) error {
	for _, a := range n.GetAttribute() {
		if a.GetT() != nil {
			if err := fn(a.GetT()); err != nil {
				return err
			}
		}
		for _, t := range a.GetTensors() {
			if err := fn(t); err != nil {
				return err
			}
		}
		if s := a.GetSparseTensor(); s != nil {
			if err := eachSparse(s, fn); err != nil {
				return err
			}
		}
		for _, s := range a.GetSparseTensors() {
			if err := eachSparse(s, fn); err != nil {
				return err
			}
		}
		if err := eachGraphTensor(a.GetG(), fn); err != nil {
			return err
		}
		for _, sub := range a.GetGraphs() {
			if err := eachGraphTensor(sub, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// Marshal encodes a model deterministically (the same model gives the same
// bytes), refusing one that does not fit one file.
func Marshal(m *onnxpb.ModelProto) ([]byte, error) {
	if n := proto.Size(m); n >= MaxFileBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, n)
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// Write writes a model file atomically (temporary file, fsync, rename):
// a reader never sees half a model.
func Write(path string, m *onnxpb.ModelProto) error {
	b, err := Marshal(m)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return npy.WriteAtomic(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// Opset is the model's operator set of domain ("" or "ai.onnx": the
// default one), 0 when it imports none.
func Opset(m *onnxpb.ModelProto, domain string) int {
	for _, o := range m.GetOpsetImport() {
		if d := o.GetDomain(); d == domain || (domain == "" && d == "ai.onnx") {
			return int(o.GetVersion())
		}
	}
	return 0
}

// TensorType is the element type and shape of a graph input or output;
// ok is false for a value that is not a tensor.
func TensorType(v *onnxpb.ValueInfoProto) (t onnxpb.TensorProto_DataType, dims []Dim, ok bool) {
	tt := v.GetType().GetTensorType()
	if tt == nil {
		return 0, nil, false
	}
	for _, d := range tt.GetShape().GetDim() {
		switch x := d.GetValue().(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			dims = append(dims, Dim{Size: x.DimValue})
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			dims = append(dims, Dim{Size: -1, Param: x.DimParam})
		default:
			dims = append(dims, Dim{Size: -1})
		}
	}
	return onnxpb.TensorProto_DataType(tt.GetElemType()), dims, true
}

// Find returns the graph input or output named name.
func Find(list []*onnxpb.ValueInfoProto, name string) (*onnxpb.ValueInfoProto, bool) {
	i := slices.IndexFunc(list, func(v *onnxpb.ValueInfoProto) bool { return v.GetName() == name })
	if i < 0 {
		return nil, false
	}
	return list[i], true
}

// MetadataOf returns a model's metadata as a map.
func MetadataOf(m *onnxpb.ModelProto) map[string]string {
	out := map[string]string{}
	for _, kv := range m.GetMetadataProps() {
		out[kv.GetKey()] = kv.GetValue()
	}
	return out
}
