package onnxmodel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/onnxmodel/onnxpb"
)

// small builds the model the merge tests start from, as an exporter would
// write it: y = x * w + c, with w an initializer and c a Constant node
// (a tensor attribute); x float32 [N, 3].
func small(t *testing.T) *onnxpb.ModelProto {
	t.Helper()
	g, err := NewGraph("small", DefaultOpset)
	if err != nil {
		t.Fatal(err)
	}
	x, err := g.Input("x", Float, Symbolic("N"), Fixed(3))
	if err != nil {
		t.Fatal(err)
	}
	w := g.Float32("w", []float32{1, -2, 0.5}, 3)
	c := &onnxpb.TensorProto{Name: proto.String("c"), DataType: proto.Int32(int32(Float)), Dims: []int64{3}, FloatData: []float32{10, 20, 30}}
	cOut := g.Op("Constant", nil, &onnxpb.AttributeProto{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: c})
	if err := g.Output("y", g.Add(g.Mul(x, w), cOut), Float, Symbolic("N"), Fixed(3)); err != nil {
		t.Fatal(err)
	}
	return g.Model("test", "1", "y = x * w + c", nil)
}

// writeExternal writes m to dir/name.onnx with initializer w's data moved
// to name.data (after 8 bytes of other data), as exporters of large models
// store weights.
func writeExternal(t *testing.T, m *onnxpb.ModelProto, dir, name string) string {
	t.Helper()
	m = proto.Clone(m).(*onnxpb.ModelProto)
	for _, init := range m.GetGraph().GetInitializer() {
		if init.GetName() != "w" {
			continue
		}
		data := append([]byte("PADDING!"), init.GetRawData()...)
		if err := os.WriteFile(filepath.Join(dir, name+".data"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		init.RawData = nil
		init.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
		init.ExternalData = []*onnxpb.StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String(name + ".data")},
			{Key: proto.String("offset"), Value: proto.String("8")},
			{Key: proto.String("length"), Value: proto.String("12")},
		}
	}
	path := filepath.Join(dir, name+".onnx")
	if err := Write(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadInlinesExternalData(t *testing.T) {
	dir := t.TempDir()
	orig := small(t)
	path := writeExternal(t, orig, dir, "ext")
	m, err := Read(path, MaxFileBytes)
	if err != nil {
		t.Fatal(err)
	}
	var w *onnxpb.TensorProto
	for _, init := range m.GetGraph().GetInitializer() {
		if init.GetName() == "w" {
			w = init
		}
	}
	if w == nil || w.GetDataLocation() != onnxpb.TensorProto_DEFAULT || len(w.GetExternalData()) != 0 {
		t.Fatalf("w still external: %v", w)
	}
	if !proto.Equal(m, orig) {
		t.Errorf("the model read with its external data inlined differs from the original")
	}

	// A limit the file and its data reach: refused, not truncated.
	st, _ := os.Stat(path)
	if _, err := Read(path, st.Size()+5); !errors.Is(err, ErrTooLarge) {
		t.Errorf("read with a limit below file + external data: %v, want ErrTooLarge", err)
	}
	if _, err := Read(path, st.Size()); !errors.Is(err, ErrTooLarge) {
		t.Errorf("read with a limit of the file's size: %v, want ErrTooLarge", err)
	}
	os.Remove(filepath.Join(dir, "ext.data"))
	if _, err := Read(path, MaxFileBytes); err == nil || !strings.Contains(err.Error(), "beside the model") {
		t.Errorf("read without the external data file: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "junk.onnx"), []byte("not a model at all"), 0o644)
	if _, err := Read(filepath.Join(dir, "junk.onnx"), MaxFileBytes); err == nil || !strings.Contains(err.Error(), "not an ONNX model") {
		t.Errorf("read of a non-model: %v", err)
	}
}

func TestMarshalIsDeterministic(t *testing.T) {
	a, err := Marshal(small(t))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Marshal(small(t))
	if !bytes.Equal(a, b) {
		t.Fatal("the same model marshals to different bytes")
	}
	var back onnxpb.ModelProto
	if err := proto.Unmarshal(a, &back); err != nil || back.GetIrVersion() != IRVersion || Opset(&back, "") != DefaultOpset {
		t.Fatalf("round trip: %v, IR %d, opset %d", err, back.GetIrVersion(), Opset(&back, ""))
	}
}

func TestMergeRefusesWhatItCannotJoin(t *testing.T) {
	g, _ := NewGraph("g", DefaultOpset)
	in, _ := g.Input("in", Float, Symbolic("N"), Fixed(3))
	if _, err := g.Merge(small(t), "m/", map[string]string{}); err == nil || !strings.Contains(err.Error(), `input "x"`) {
		t.Errorf("unfed input: %v", err)
	}
	if _, err := g.Merge(small(t), "m/", map[string]string{"x": "nothing"}); err == nil || !strings.Contains(err.Error(), "does not have") {
		t.Errorf("fed from an unknown value: %v", err)
	}
	if _, err := g.Merge(small(t), "m/", map[string]string{"x": in, "z": in}); err == nil || !strings.Contains(err.Error(), `no input "z"`) {
		t.Errorf("feeding an input the model lacks: %v", err)
	}
	if _, err := g.Merge(small(t), "i", map[string]string{"x": in}); err == nil || !strings.Contains(err.Error(), "prefix") {
		t.Errorf("a prefix the graph's names start with: %v", err)
	}
	old, _ := NewGraph("old", 14)
	in14, _ := old.Input("in", Float, Symbolic("N"), Fixed(3))
	if _, err := old.Merge(small(t), "m/", map[string]string{"x": in14}); err == nil || !strings.Contains(err.Error(), "operator set") {
		t.Errorf("another operator set: %v", err)
	}
	if _, err := NewGraph("ancient", 11); err == nil {
		t.Error("operator set 11 accepted")
	}
}

// TestMergedModelRuns merges a model whose weights are external data in
// front of a computation of the graph's own, twice under two prefixes,
// and runs the result on ONNX Runtime.
func TestMergedModelRuns(t *testing.T) {
	dir := t.TempDir()
	path := writeExternal(t, small(t), dir, "ext")
	g, _ := NewGraph("merged", DefaultOpset)
	px, _ := g.Input("pixels", Uint8, Symbolic("N"), Fixed(3))
	x := g.Cast(px, Float)
	var ys []string
	for _, prefix := range []string{"a/", "b/"} {
		m, err := Read(path, MaxFileBytes)
		if err != nil {
			t.Fatal(err)
		}
		outs, err := g.Merge(m, prefix, map[string]string{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		ys = append(ys, outs["y"])
	}
	z := g.Mul(g.Add(ys[0], ys[1]), g.Float32("half", []float32{0.5}))
	sum := g.ReduceSum(z, false, 1)
	if err := g.Output("z", z, Float, Symbolic("N"), Fixed(3)); err != nil {
		t.Fatal(err)
	}
	if err := g.Output("sum", sum, Float, Symbolic("N")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "merged.onnx")
	if err := Write(out, g.Model("test", "1", "merged", []Metadata{{"k", "v"}})); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "ext.data")) // the merged model stands alone

	initORT(t)
	s, err := ort.NewDynamicAdvancedSession(out, []string{"pixels"}, []string{"z", "sum"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	in, err := ort.NewTensor(ort.NewShape(2, 3), []uint8{1, 2, 3, 4, 5, 250})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	outs := []ort.Value{nil, nil}
	if err := s.Run([]ort.Value{in}, outs); err != nil {
		t.Fatal(err)
	}
	defer outs[0].Destroy()
	defer outs[1].Destroy()
	gotZ := outs[0].(*ort.Tensor[float32]).GetData()
	gotSum := outs[1].(*ort.Tensor[float32]).GetData()
	px8 := []float32{1, 2, 3, 4, 5, 250}
	w, c := []float32{1, -2, 0.5}, []float32{10, 20, 30}
	for i := range 2 {
		var s float32
		for j := range 3 {
			want := px8[3*i+j]*w[j] + c[j]
			s += want
			if gotZ[3*i+j] != want {
				t.Errorf("z[%d,%d] = %v, want %v", i, j, gotZ[3*i+j], want)
			}
		}
		if math.Abs(float64(gotSum[i]-s)) > 1e-4 {
			t.Errorf("sum[%d] = %v, want %v", i, gotSum[i], s)
		}
	}
	md, err := s.GetModelMetadata()
	if err != nil {
		t.Fatal(err)
	}
	defer md.Destroy()
	if v, ok, err := md.LookupCustomMetadataMap("k"); err != nil || !ok || v != "v" {
		t.Errorf("metadata k = %q %v %v", v, ok, err)
	}
}

var ortOnce struct {
	sync.Once
	err error
}

// initORT loads the ONNX Runtime library `make setup` installs.
func initORT(t *testing.T) {
	t.Helper()
	ortOnce.Do(func() {
		lib, err := backend.PrepareOrt()
		if err != nil {
			ortOnce.err = err
			return
		}
		ort.SetSharedLibraryPath(lib)
		ortOnce.err = ort.InitializeEnvironment(ort.WithLogLevelError())
	})
	if ortOnce.err != nil {
		t.Fatalf("ONNX Runtime: %v", ortOnce.err)
	}
}

// The helpers of graph.go write what operator set 13 defines.
func TestInitializerLayout(t *testing.T) {
	g, _ := NewGraph("g", MinOpset)
	name := g.Int64("axes", []int64{-1, 2}, 2)
	init := g.g.GetInitializer()[0]
	if init.GetName() != name || !slices.Equal(init.GetDims(), []int64{2}) || binary.LittleEndian.Uint64(init.GetRawData()[:8]) != math.MaxUint64 {
		t.Fatalf("int64 initializer %v", init)
	}
	if again := g.Int64("axes", []int64{1}, 1); again == name {
		t.Fatalf("two initializers named %q", again)
	}
}
