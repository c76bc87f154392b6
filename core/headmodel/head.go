package headmodel

import (
	"fmt"
	"math"
	"strconv"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Head is one trained head, in float64, ready to apply.
type Head struct {
	m     *Model
	Index int
	// w0 [out0, D] (torch's layout), b0 [out0]; layers[l-1] the l-th later
	// layer as [in, out] and its bias; last [K, bottleneck] = V g/||V||.
	w0, b0 []float64
	layers []dense
	last   []float64
}

type dense struct {
	w, b    []float64
	in, out int
}

// Head returns head h (0 .. Heads-1).
func (m *Model) Head(h int) (*Head, error) {
	if h < 0 || h >= m.Heads {
		return nil, invalid("head %d: the run trained heads 0 to %d (its selected head is %d)", h, m.Heads-1, m.BestHead())
	}
	hd := &Head{m: m, Index: h}
	o0, d := m.Out0, m.D
	hd.w0 = f64(m.params["w0"][h*o0*d : (h+1)*o0*d])
	hd.b0 = f64(m.params["b0"][h*o0 : (h+1)*o0])
	for l := 1; l < m.Layers; l++ {
		s := m.shapes["w"+strconv.Itoa(l)]
		in, out := s[1], s[2]
		hd.layers = append(hd.layers, dense{
			w:  f64(m.params["w"+strconv.Itoa(l)][h*in*out : (h+1)*in*out]),
			b:  f64(m.params["b"+strconv.Itoa(l)][h*out : (h+1)*out]),
			in: in, out: out,
		})
	}
	k, bn := m.K, m.Bottleneck
	v := m.params["last_v"][h*k*bn : (h+1)*k*bn]
	g := m.params["last_g"][h*k : (h+1)*k]
	hd.last = make([]float64, k*bn)
	for c := range k {
		row := v[c*bn : (c+1)*bn]
		var ss float64
		for _, x := range row {
			ss += float64(x) * float64(x)
		}
		scale := float64(g[c]) / math.Sqrt(ss)
		for j, x := range row {
			hd.last[c*bn+j] = float64(x) * scale
		}
	}
	return hd, nil
}

func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// Logits computes the head's logits [n, K] of n raw embeddings x [n, D]
// (as the backbone gave them: the normalisation is applied here, to a
// copy). logits must hold n*K values.
func (hd *Head) Logits(x []float32, n int, logits []float64) error {
	m := hd.m
	d, k := m.D, m.K
	if len(x) != n*d || len(logits) != n*k {
		return fmt.Errorf("headmodel: %d values for %d embeddings of %d, %d logits for %d clusters", len(x), n, d, len(logits), k)
	}
	impl := gonum.Implementation{}
	xs := make([]float64, n*d)
	row := make([]float32, d)
	for i := range n {
		copy(row, x[i*d:(i+1)*d])
		m.normalise(row)
		for j, v := range row {
			xs[i*d+j] = float64(v)
		}
	}
	// z = x W0^T + b0.
	z := make([]float64, n*m.Out0)
	impl.Dgemm(blas.NoTrans, blas.Trans, n, m.Out0, d, 1, xs, d, hd.w0, d, 0, z, m.Out0)
	addBias(z, hd.b0)
	width := m.Out0
	for _, l := range hd.layers {
		for i, v := range z {
			z[i] = 0.5 * v * (1 + math.Erf(v/math.Sqrt2)) // the exact GELU
		}
		next := make([]float64, n*l.out)
		impl.Dgemm(blas.NoTrans, blas.NoTrans, n, l.out, l.in, 1, z, width, l.w, l.out, 0, next, l.out)
		addBias(next, l.b)
		z, width = next, l.out
	}
	// logits = (z / max(||z||, eps)) w^T.
	impl.Dgemm(blas.NoTrans, blas.Trans, n, k, width, 1, z, width, hd.last, width, 0, logits, k)
	for i := range n {
		var ss float64
		for _, v := range z[i*width : (i+1)*width] {
			ss += v * v
		}
		denom := max(math.Sqrt(ss), normEps)
		for c := range k {
			logits[i*k+c] /= denom
		}
	}
	return nil
}

func addBias(z, b []float64) {
	w := len(b)
	for i := range z {
		z[i] += b[i%w]
	}
}

// Assign gives n embeddings x [n, D] their cluster (the argmax of the
// logits, the first one on ties) and their probabilities [n, K] (the
// softmax of the logits over teacher_temp), into clusters and probs.
func (hd *Head) Assign(x []float32, n int, clusters []int32, probs []float32) error {
	k := hd.m.K
	if len(clusters) != n || len(probs) != n*k {
		return fmt.Errorf("headmodel: %d clusters and %d probabilities for %d embeddings of %d clusters", len(clusters), len(probs), n, k)
	}
	logits := make([]float64, n*k)
	if err := hd.Logits(x, n, logits); err != nil {
		return err
	}
	temp := hd.m.TeacherTemp
	for i := range n {
		row := logits[i*k : (i+1)*k]
		best := 0
		for c, v := range row {
			if v > row[best] {
				best = c
			}
		}
		clusters[i] = int32(best)
		// Each exponential once: row (logits this call owns) holds them.
		top := row[best] / temp
		var sum float64
		for c, v := range row {
			row[c] = math.Exp(v/temp - top)
			sum += row[c]
		}
		for c, e := range row {
			probs[i*k+c] = float32(e / sum)
		}
	}
	return nil
}

// Params are a head's parameters in float32, laid out for a forward pass
// on rows: x W0T + B0, then for each later layer GELU, x W + B.
type Params struct {
	// Mean and Std normalise the input (nil without embed_norm); L2Norm
	// then divides each row by max(||x||, 1e-12).
	Mean, Std []float32
	L2Norm    bool
	W0T       []float32 // [D, Out0]
	B0        []float32 // [Out0]
	Layers    []Layer
	// LastT is the weight-normalised last layer V g/||V||, transposed,
	// [Bottleneck, K], computed in float64 and rounded.
	LastT       []float32
	TeacherTemp float32
	D, Out0, K  int
	Bottleneck  int
}

// Layer is a later layer: W [In, Out], B [Out].
type Layer struct {
	W, B    []float32
	In, Out int
}

// Params returns the head's parameters in float32, the values the run
// trained (the last layer's weight normalisation applied).
func (hd *Head) Params() Params {
	m := hd.m
	p := Params{Mean: m.Mean, Std: m.Std, L2Norm: m.L2Norm, TeacherTemp: float32(m.TeacherTemp),
		D: m.D, Out0: m.Out0, K: m.K, Bottleneck: m.Bottleneck}
	o0, d := m.Out0, m.D
	w0 := m.params["w0"][hd.Index*o0*d : (hd.Index+1)*o0*d]
	p.W0T = transpose(w0, o0, d)
	p.B0 = m.params["b0"][hd.Index*o0 : (hd.Index+1)*o0]
	for l := 1; l < m.Layers; l++ {
		dl := hd.layers[l-1]
		p.Layers = append(p.Layers, Layer{
			W:  m.params["w"+strconv.Itoa(l)][hd.Index*dl.in*dl.out : (hd.Index+1)*dl.in*dl.out],
			B:  m.params["b"+strconv.Itoa(l)][hd.Index*dl.out : (hd.Index+1)*dl.out],
			In: dl.in, Out: dl.out,
		})
	}
	k, bn := m.K, m.Bottleneck
	p.LastT = make([]float32, bn*k)
	for c := range k {
		for j := range bn {
			p.LastT[j*k+c] = float32(hd.last[c*bn+j])
		}
	}
	return p
}
