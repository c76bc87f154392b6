// Package onnxmodel writes and reads ONNX models (.onnx files) in pure Go:
// a small builder for graphs (inputs, initializers, nodes, outputs), the
// model around it with its metadata, reading a model file (weights stored
// as external data inlined), and merging another model's graph into a
// graph under a name prefix, its inputs fed by values of the graph.
//
// The file format is ONNX's own schema, onnx.proto, compiled in package
// onnxpb. Nothing here runs a model: ONNX Runtime (or any ONNX runtime)
// does, so a program that only writes models needs no native library.
package onnxmodel

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/clusterlab/clusterlab/core/onnxmodel/onnxpb"
)

// Versions a new Graph targets by default: IR version 8 with the default
// operator set 17 (ONNX 1.12), which ONNX Runtime 1.13 and later run.
const (
	IRVersion    = 8
	DefaultOpset = 17
)

// MinOpset is the oldest default-domain operator set a Graph accepts: the
// helpers below use the forms of ReduceSum, Unsqueeze and Softmax that
// operator set 13 introduced.
const MinOpset = 13

// Element types of tensors.
const (
	Float = onnxpb.TensorProto_FLOAT
	Uint8 = onnxpb.TensorProto_UINT8
	Int32 = onnxpb.TensorProto_INT32
	Int64 = onnxpb.TensorProto_INT64
)

// Dim is one dimension of a graph input or output: a fixed size, or, when
// Param is set, a symbolic one (a batch of any size, "N").
type Dim struct {
	Size  int64
	Param string
}

// Fixed is a dimension of size n.
func Fixed(n int) Dim { return Dim{Size: int64(n)} }

// Symbolic is a dimension of any size, named name.
func Symbolic(name string) Dim { return Dim{Param: name} }

// Graph builds one ONNX graph. Values are named by strings; every helper
// returns the name of the value it creates, unique in the graph.
type Graph struct {
	g      *onnxpb.GraphProto
	opset  int64
	ir     int64
	used   map[string]bool
	extra  map[string]int64 // operator sets of other domains (merged models)
	funcs  []*onnxpb.FunctionProto
	nodeID int
}

// NewGraph starts an empty graph named name for the default-domain
// operator set opset (at least MinOpset).
func NewGraph(name string, opset int) (*Graph, error) {
	if opset < MinOpset {
		return nil, fmt.Errorf("onnxmodel: operator set %d is older than %d, the oldest this builder writes", opset, MinOpset)
	}
	return &Graph{g: &onnxpb.GraphProto{Name: proto.String(name)}, opset: int64(opset), ir: IRVersion,
		used: map[string]bool{}, extra: map[string]int64{}}, nil
}

// Opset is the graph's default-domain operator set.
func (g *Graph) Opset() int { return int(g.opset) }

// unique returns name, or name_<n> when name is taken, and marks it used.
func (g *Graph) unique(name string) string {
	n := name
	for i := 1; g.used[n]; i++ {
		n = name + "_" + strconv.Itoa(i)
	}
	g.used[n] = true
	return n
}

func valueInfo(name string, t onnxpb.TensorProto_DataType, dims []Dim) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		if d.Param != "" {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
		} else {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.Size}
		}
		shape.Dim = append(shape.Dim, dim)
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{
		Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(t)), Shape: shape}}}}
}

// Input declares a graph input. Its name is kept as given (it is what
// callers feed), so it must be new.
func (g *Graph) Input(name string, t onnxpb.TensorProto_DataType, dims ...Dim) (string, error) {
	if g.used[name] {
		return "", fmt.Errorf("onnxmodel: input %q: the name is taken", name)
	}
	g.used[name] = true
	g.g.Input = append(g.g.Input, valueInfo(name, t, dims))
	return name, nil
}

// Output declares value as the graph output name (through an Identity
// node when the names differ), with its element type and shape.
func (g *Graph) Output(name, value string, t onnxpb.TensorProto_DataType, dims ...Dim) error {
	if name != value {
		if g.used[name] {
			return fmt.Errorf("onnxmodel: output %q: the name is taken", name)
		}
		g.used[name] = true
		g.g.Node = append(g.g.Node, &onnxpb.NodeProto{OpType: proto.String("Identity"), Name: proto.String(g.nodeName("Identity")),
			Input: []string{value}, Output: []string{name}})
	}
	g.g.Output = append(g.g.Output, valueInfo(name, t, dims))
	return nil
}

func (g *Graph) nodeName(op string) string {
	g.nodeID++
	return fmt.Sprintf("%s_%d", op, g.nodeID)
}

// Float32 adds a float32 initializer of the given shape (no dims: a
// scalar) and returns its name.
func (g *Graph) Float32(name string, data []float32, dims ...int) string {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return g.initializer(name, Float, raw, len(data), dims)
}

// Int64 adds an int64 initializer of the given shape (no dims: a scalar).
func (g *Graph) Int64(name string, data []int64, dims ...int) string {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return g.initializer(name, Int64, raw, len(data), dims)
}

// initializer adds an initializer of n values of type t, raw their
// little-endian bytes (ONNX's raw_data layout), and returns its name.
func (g *Graph) initializer(name string, t onnxpb.TensorProto_DataType, raw []byte, n int, dims []int) string {
	tp := &onnxpb.TensorProto{Name: proto.String(g.unique(name)), DataType: proto.Int32(int32(t)), Dims: int64s(dims), RawData: raw}
	checkCount(name, n, dims)
	g.g.Initializer = append(g.g.Initializer, tp)
	return tp.GetName()
}

// checkCount guards against an initializer whose data does not fill its
// shape: a programming error, which would write a model no runtime loads.
func checkCount(name string, n int, dims []int) {
	c := 1
	for _, d := range dims {
		c *= d
	}
	if c != n {
		panic(fmt.Sprintf("onnxmodel: initializer %s: %d values for shape %v", name, n, dims))
	}
}

func int64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// Attr is a node attribute (AttrInt, AttrInts, AttrFloat, AttrString).
type Attr = *onnxpb.AttributeProto

// AttrInt is an integer attribute.
func AttrInt(name string, v int64) Attr {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

// AttrInts is a list-of-integers attribute.
func AttrInts(name string, v ...int64) Attr {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

// AttrFloat is a float attribute.
func AttrFloat(name string, v float32) Attr {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// AttrString is a string attribute.
func AttrString(name, v string) Attr {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

// Op adds a node of the default domain with one output and returns the
// output's name (derived from the operator's).
func (g *Graph) Op(op string, inputs []string, attrs ...Attr) string {
	out := g.unique(op)
	g.g.Node = append(g.g.Node, &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(g.nodeName(op)),
		Input: inputs, Output: []string{out}, Attribute: attrs})
	return out
}

// Common operators. Binary ones broadcast as numpy does.

func (g *Graph) Add(a, b string) string    { return g.Op("Add", []string{a, b}) }
func (g *Graph) Sub(a, b string) string    { return g.Op("Sub", []string{a, b}) }
func (g *Graph) Mul(a, b string) string    { return g.Op("Mul", []string{a, b}) }
func (g *Graph) Div(a, b string) string    { return g.Op("Div", []string{a, b}) }
func (g *Graph) Max(a, b string) string    { return g.Op("Max", []string{a, b}) }
func (g *Graph) MatMul(a, b string) string { return g.Op("MatMul", []string{a, b}) }
func (g *Graph) Sqrt(x string) string      { return g.Op("Sqrt", []string{x}) }
func (g *Graph) Erf(x string) string       { return g.Op("Erf", []string{x}) }
func (g *Graph) Neg(x string) string       { return g.Op("Neg", []string{x}) }

// Cast converts x to the element type t.
func (g *Graph) Cast(x string, t onnxpb.TensorProto_DataType) string {
	return g.Op("Cast", []string{x}, AttrInt("to", int64(t)))
}

// Transpose permutes the axes of x.
func (g *Graph) Transpose(x string, perm ...int64) string {
	return g.Op("Transpose", []string{x}, AttrInts("perm", perm...))
}

// ReduceSum sums x over axes (the axes input of operator set 13 on).
func (g *Graph) ReduceSum(x string, keepDims bool, axes ...int64) string {
	keep := int64(0)
	if keepDims {
		keep = 1
	}
	return g.Op("ReduceSum", []string{x, g.Int64("axes", axes, len(axes))}, AttrInt("keepdims", keep))
}

// Softmax along axis (operator set 13's definition: that axis alone).
func (g *Graph) Softmax(x string, axis int64) string {
	return g.Op("Softmax", []string{x}, AttrInt("axis", axis))
}

// ArgMax is the index of the first largest value along axis, as int64,
// the axis dropped.
func (g *Graph) ArgMax(x string, axis int64) string {
	return g.Op("ArgMax", []string{x}, AttrInt("axis", axis), AttrInt("keepdims", 0))
}

// Gather takes index i along axis (the axis dropped).
func (g *Graph) Gather(x string, i int64, axis int64) string {
	return g.Op("Gather", []string{x, g.Int64("index", []int64{i})}, AttrInt("axis", axis))
}

// Concat joins values along axis.
func (g *Graph) Concat(axis int64, xs ...string) string {
	return g.Op("Concat", xs, AttrInt("axis", axis))
}

// Shape is x's shape as an int64 vector.
func (g *Graph) Shape(x string) string { return g.Op("Shape", []string{x}) }

// Slice takes starts..ends along axes; each of starts and ends is the
// name of an int64 vector with one entry per axis.
func (g *Graph) Slice(x, starts, ends string, axes ...int64) string {
	return g.Op("Slice", []string{x, starts, ends, g.Int64("axes", axes, len(axes))})
}

// Metadata is one of a model's named metadata values.
type Metadata struct{ Key, Value string }

// Model wraps the graph into a model: its IR version and operator sets,
// the producer, a doc string and metadata (in order).
func (g *Graph) Model(producer, version, doc string, meta []Metadata) *onnxpb.ModelProto {
	m := &onnxpb.ModelProto{
		IrVersion: proto.Int64(g.ir), ProducerName: proto.String(producer), ProducerVersion: proto.String(version),
		DocString: proto.String(doc), Graph: g.g, Functions: g.funcs,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(g.opset)}},
	}
	for _, d := range slices.Sorted(maps.Keys(g.extra)) {
		m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String(d), Version: proto.Int64(g.extra[d])})
	}
	for _, kv := range meta {
		m.MetadataProps = append(m.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(kv.Key), Value: proto.String(kv.Value)})
	}
	return m
}
