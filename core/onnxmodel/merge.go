package onnxmodel

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/clusterlab/clusterlab/core/onnxmodel/onnxpb"
)

// Merge copies the graph of model m into g: every value and node name of
// m (in its subgraphs too) gets prefix in front, so nothing collides with
// g's names, except m's graph inputs, which are replaced by the values of
// g that feeds maps them to. Every input of m that is not an initializer
// must be fed. It returns, for each graph output of m, the name of that
// value in g; m's outputs do not become g's.
//
// m must use g's default-domain operator set (create g with Opset(m)),
// since one model has one version of each operator set; m's other
// operator sets and local functions are carried over. m is modified
// (its names are rewritten): pass a model read for the purpose.
func (g *Graph) Merge(m *onnxpb.ModelProto, prefix string, feeds map[string]string) (map[string]string, error) {
	if prefix == "" {
		return nil, fmt.Errorf("onnxmodel: merge needs a name prefix")
	}
	if v := Opset(m, ""); v != int(g.opset) {
		return nil, fmt.Errorf("onnxmodel: the model to merge uses operator set %d, the graph %d", v, g.opset)
	}
	for _, o := range m.GetOpsetImport() {
		d := o.GetDomain()
		if d == "" || d == "ai.onnx" {
			continue
		}
		if v, ok := g.extra[d]; ok && v != o.GetVersion() {
			return nil, fmt.Errorf("onnxmodel: operator set %s version %d and %d in one model", d, v, o.GetVersion())
		}
		g.extra[d] = o.GetVersion()
	}
	if ir := m.GetIrVersion(); ir > g.ir {
		g.ir = ir
	}
	mg := m.GetGraph()
	inits := map[string]bool{}
	for _, t := range mg.GetInitializer() {
		inits[t.GetName()] = true
	}
	for _, s := range mg.GetSparseInitializer() {
		inits[s.GetValues().GetName()] = true
	}
	for _, in := range mg.GetInput() {
		name := in.GetName()
		if _, ok := feeds[name]; !ok && !inits[name] {
			return nil, fmt.Errorf("onnxmodel: input %q of the model to merge is not fed", name)
		}
	}
	for name, v := range feeds {
		if _, ok := Find(mg.GetInput(), name); !ok {
			return nil, fmt.Errorf("onnxmodel: the model to merge has no input %q", name)
		}
		if !g.used[v] {
			return nil, fmt.Errorf("onnxmodel: merge feeds %q from %q, which the graph does not have", name, v)
		}
	}
	// Names of the merged graph must not collide with g's: g's own
	// generated names never start with the prefix unless the caller chose
	// one that clashes, which is checked here.
	for n := range g.used {
		if strings.HasPrefix(n, prefix) {
			return nil, fmt.Errorf("onnxmodel: prefix %q is already used by value %q", prefix, n)
		}
	}
	r := renamer{prefix: prefix, feeds: feeds}
	r.graph(mg)
	for _, n := range mg.GetNode() {
		g.markNode(n)
		g.g.Node = append(g.g.Node, n)
	}
	for _, t := range mg.GetInitializer() {
		g.used[t.GetName()] = true
		g.g.Initializer = append(g.g.Initializer, t)
	}
	for _, s := range mg.GetSparseInitializer() {
		g.used[s.GetValues().GetName()] = true
		g.g.SparseInitializer = append(g.g.SparseInitializer, s)
	}
	g.g.ValueInfo = append(g.g.ValueInfo, mg.GetValueInfo()...)
	g.g.QuantizationAnnotation = append(g.g.QuantizationAnnotation, mg.GetQuantizationAnnotation()...)
	for _, f := range m.GetFunctions() {
		for _, have := range g.funcs {
			if have.GetDomain() == f.GetDomain() && have.GetName() == f.GetName() {
				return nil, fmt.Errorf("onnxmodel: function %s.%s defined twice", f.GetDomain(), f.GetName())
			}
		}
		g.funcs = append(g.funcs, f)
	}
	outs := map[string]string{}
	for i, o := range mg.GetOutput() {
		outs[r.orig[i]] = o.GetName()
	}
	return outs, nil
}

// markNode records the names a merged node defines as used.
func (g *Graph) markNode(n *onnxpb.NodeProto) {
	for _, o := range n.GetOutput() {
		if o != "" {
			g.used[o] = true
		}
	}
}

// renamer rewrites the names of a graph being merged.
type renamer struct {
	prefix string
	feeds  map[string]string
	orig   []string // the top graph's output names before renaming
}

func (r *renamer) name(n string) string {
	if n == "" { // an optional input left out
		return ""
	}
	if v, ok := r.feeds[n]; ok {
		return v
	}
	return r.prefix + n
}

// graph renames the top graph: its inputs disappear (fed or initializers).
func (r *renamer) graph(g *onnxpb.GraphProto) {
	for _, o := range g.GetOutput() {
		r.orig = append(r.orig, o.GetName())
	}
	g.Input = nil
	r.body(g)
}

// body renames everything a graph defines or uses.
func (r *renamer) body(g *onnxpb.GraphProto) {
	for _, v := range g.GetInput() {
		v.Name = proto.String(r.name(v.GetName()))
	}
	for _, v := range g.GetOutput() {
		v.Name = proto.String(r.name(v.GetName()))
	}
	for _, v := range g.GetValueInfo() {
		v.Name = proto.String(r.name(v.GetName()))
	}
	for _, t := range g.GetInitializer() {
		t.Name = proto.String(r.name(t.GetName()))
	}
	for _, s := range g.GetSparseInitializer() {
		if s.GetValues() != nil {
			s.Values.Name = proto.String(r.name(s.GetValues().GetName()))
		}
		if s.GetIndices() != nil && s.GetIndices().GetName() != "" {
			s.Indices.Name = proto.String(r.name(s.GetIndices().GetName()))
		}
	}
	for _, q := range g.GetQuantizationAnnotation() {
		q.TensorName = proto.String(r.name(q.GetTensorName()))
		for _, kv := range q.GetQuantParameterTensorNames() {
			kv.Value = proto.String(r.name(kv.GetValue()))
		}
	}
	for _, n := range g.GetNode() {
		for i, in := range n.Input {
			n.Input[i] = r.name(in)
		}
		for i, out := range n.Output {
			n.Output[i] = r.name(out)
		}
		if n.Name != nil {
			n.Name = proto.String(r.prefix + n.GetName())
		}
		for _, a := range n.GetAttribute() {
			if a.GetG() != nil {
				r.body(a.GetG())
			}
			for _, sub := range a.GetGraphs() {
				r.body(sub)
			}
		}
	}
}
