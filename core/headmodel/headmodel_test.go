package headmodel

import (
	"archive/zip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/store"
)

// The tests write run directories as the runner and the trainer lay them
// out (docs/RUNDIR.md), with random parameters, and compare the heads with
// a plain float64 transcription of the forward pass of docs/RUNDIR.md.
// The end-to-end tests in runner/ compare with what the trainer itself
// assigned.

// arch is a synthetic run's shape and options.
type arch struct {
	d, heads, k, layers, hidden, bn, best int
	embedNorm, l2Norm                     bool
	temp                                  float64
	trainer                               int // version in the loss identity
}

// fakeRun is a run directory with its train embeddings in a cache folder.
type fakeRun struct {
	dir, train string
	params     map[string][]float32 // the teacher's, today's layout
	x          []float32            // train embeddings [n, d]
	n          int
	a          arch
}

func (a arch) specs() []rundir.CheckpointArray {
	out0 := a.hidden
	if a.layers == 1 {
		out0 = a.bn
	}
	ps := []rundir.CheckpointArray{{Name: "w0", Shape: []int{a.heads * out0, a.d}}, {Name: "b0", Shape: []int{a.heads, out0}}}
	for l := 1; l < a.layers; l++ {
		out := a.hidden
		if l == a.layers-1 {
			out = a.bn
		}
		ps = append(ps, rundir.CheckpointArray{Name: fmt.Sprintf("w%d", l), Shape: []int{a.heads, a.hidden, out}},
			rundir.CheckpointArray{Name: fmt.Sprintf("b%d", l), Shape: []int{a.heads, out}})
	}
	return append(ps, rundir.CheckpointArray{Name: "last_v", Shape: []int{a.heads, a.k, a.bn}}, rundir.CheckpointArray{Name: "last_g", Shape: []int{a.heads, a.k}})
}

func size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func writeRun(t *testing.T, a arch, seed uint64) *fakeRun {
	t.Helper()
	root := t.TempDir()
	r := &fakeRun{dir: filepath.Join(root, "runs", "exp", "trial"), a: a, n: 40, params: map[string][]float32{}}
	os.MkdirAll(r.dir, 0o755)
	rng := rand.New(rand.NewPCG(seed, 7))
	// Train embeddings with a constant column (its std is 0) and offsets,
	// so the normalisation matters.
	r.x = make([]float32, r.n*a.d)
	for i := range r.n {
		for j := range a.d {
			r.x[i*a.d+j] = float32(rng.NormFloat64()*float64(j+1) + float64(3*j))
		}
		r.x[i*a.d+1] = 2.5
	}
	r.train = filepath.Join(root, "cache", "embeddings", "ab", "abcd", "embeddings.npy")
	os.MkdirAll(filepath.Dir(r.train), 0o755)
	if err := npy.WriteFloat32(r.train, r.x, r.n, a.d); err != nil {
		t.Fatal(err)
	}
	sum, _ := store.FileSHA256(r.train)
	trainer := a.trainer
	if trainer == 0 {
		trainer = 3
	}
	rec := rundir.Record{Experiment: "exp", Trial: "trial", Status: rundir.StatusFinished, Identity: strings.Repeat("a", 64),
		Inputs: rundir.Inputs{
			Dataset:    rundir.Plugin{Name: "idx", Identity: "idx-id"},
			Backbone:   rundir.Plugin{Name: "pixels", Identity: "pixels-id"},
			Loss:       rundir.Plugin{Name: "temi", Version: "1.0.0", Identity: fmt.Sprintf("temi@1.0.0+trainer@%d:0123456789abcdef", trainer)},
			Embeddings: map[string]rundir.Array{"train": {Path: r.train, Shape: []int{r.n, a.d}, SHA256: sum}},
		}}
	if err := rundir.WriteRecord(r.dir, rec); err != nil {
		t.Fatal(err)
	}
	if err := rundir.WriteMetrics(r.dir, rundir.Metrics{Experiment: "exp", Trial: "trial", Loss: "temi", BestHead: a.best,
		Clusters: a.k, Classes: a.k, Finished: time.Now()}); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("experiment: exp\nloss:\n  plugin: temi\n  embed_norm: %v\n  l2_norm: %v\n  teacher_temp: %v\n  epochs: 3\n  heads: %d\n", a.embedNorm, a.l2Norm, a.temp, a.heads)
	os.WriteFile(filepath.Join(r.dir, rundir.ConfigFile), []byte(cfg), 0o644)

	specs := a.specs()
	for _, s := range specs {
		v := make([]float32, size(s.Shape))
		scale := 0.3
		if s.Name == "last_g" {
			scale = 1
		}
		for i := range v {
			v[i] = float32(rng.NormFloat64() * scale)
		}
		r.params[s.Name] = v
	}
	stored := r.params
	if trainer <= 2 { // w0 as [D, H*out0]
		stored = map[string][]float32{}
		for k, v := range r.params {
			stored[k] = v
		}
		stored["w0"] = transpose(r.params["w0"], specs[0].Shape[0], specs[0].Shape[1])
		specs[0].Shape = []int{specs[0].Shape[1], specs[0].Shape[0]}
	}
	writeCheckpoint(t, filepath.Join(r.dir, rundir.CheckpointFile), specs, stored, 3)
	return r
}

func writeCheckpoint(t *testing.T, path string, specs []rundir.CheckpointArray, params map[string][]float32, epoch int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, group := range []string{rundir.CheckpointStudent, rundir.CheckpointTeacher} {
		for _, s := range specs {
			w, _ := zw.CreateHeader(&zip.FileHeader{Name: rundir.CheckpointEntry(group, s.Name), Method: zip.Store})
			w.Write(npy.EncodeHeader("<f4", s.Shape))
			v := params[s.Name]
			if group == rundir.CheckpointStudent { // not what the heads use
				v = make([]float32, len(v))
			}
			for _, x := range v {
				binary.Write(w, binary.LittleEndian, x)
			}
		}
	}
	meta, _ := json.Marshal(rundir.CheckpointMeta{Format: rundir.CheckpointFormat, Epoch: epoch, Params: specs})
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: rundir.CheckpointMetaEntry, Method: zip.Store})
	w.Write(meta)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// reference is docs/RUNDIR.md's forward pass, transcribed: logits [n, K]
// of head h, all in float64 (the normalisation too).
func (r *fakeRun) reference(h int, x []float32, n int) []float64 {
	a := r.a
	d := a.d
	xs := make([]float64, n*d)
	for i := range xs {
		xs[i] = float64(x[i])
	}
	if a.embedNorm {
		for j := range d {
			var mean, ss float64
			for i := range r.n {
				mean += float64(r.x[i*d+j])
			}
			mean /= float64(r.n)
			for i := range r.n {
				ss += (float64(r.x[i*d+j]) - mean) * (float64(r.x[i*d+j]) - mean)
			}
			std := math.Sqrt(ss / float64(r.n-1))
			if std == 0 {
				std = 1
			}
			for i := range n {
				xs[i*d+j] = (xs[i*d+j] - mean) / std
			}
		}
	}
	if a.l2Norm {
		for i := range n {
			normalize(xs[i*d : (i+1)*d])
		}
	}
	out0 := a.hidden
	if a.layers == 1 {
		out0 = a.bn
	}
	w0 := r.params["w0"]
	z := make([][]float64, n)
	for i := range n {
		z[i] = make([]float64, out0)
		for o := range out0 {
			s := float64(r.params["b0"][h*out0+o])
			for j := range d {
				s += xs[i*d+j] * float64(w0[(h*out0+o)*d+j])
			}
			z[i][o] = s
		}
	}
	in := out0
	for l := 1; l < a.layers; l++ {
		out := a.hidden
		if l == a.layers-1 {
			out = a.bn
		}
		w, b := r.params[fmt.Sprintf("w%d", l)], r.params[fmt.Sprintf("b%d", l)]
		for i := range n {
			next := make([]float64, out)
			for o := range out {
				s := float64(b[h*out+o])
				for j := range in {
					v := z[i][j]
					s += 0.5 * v * (1 + math.Erf(v/math.Sqrt2)) * float64(w[(h*in+j)*out+o])
				}
				next[o] = s
			}
			z[i] = next
		}
		in = out
	}
	logits := make([]float64, n*a.k)
	v, g := r.params["last_v"], r.params["last_g"]
	for i := range n {
		normalize(z[i])
		for c := range a.k {
			row := v[(h*a.k+c)*a.bn : (h*a.k+c+1)*a.bn]
			var vn, dot float64
			for j, x := range row {
				vn += float64(x) * float64(x)
				dot += float64(x) * z[i][j]
			}
			logits[i*a.k+c] = dot * float64(g[h*a.k+c]) / math.Sqrt(vn)
		}
	}
	return logits
}

func normalize(x []float64) {
	var s float64
	for _, v := range x {
		s += v * v
	}
	n := max(math.Sqrt(s), 1e-12)
	for i := range x {
		x[i] /= n
	}
}

// newEmbeddings are rows like the train ones.
func (r *fakeRun) newEmbeddings(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 9))
	x := make([]float32, n*r.a.d)
	for i := range x {
		j := i % r.a.d
		x[i] = float32(rng.NormFloat64()*float64(j+1) + float64(3*j))
	}
	return x
}

func TestHeadsMatchTheForwardPass(t *testing.T) {
	for _, a := range []arch{
		{d: 6, heads: 3, k: 5, layers: 2, hidden: 8, bn: 4, best: 1, embedNorm: true, l2Norm: true, temp: 0.1},
		{d: 6, heads: 2, k: 4, layers: 1, hidden: 8, bn: 5, best: 0, temp: 0.04},
		{d: 5, heads: 2, k: 3, layers: 3, hidden: 7, bn: 4, best: 1, l2Norm: true, temp: 1},
		{d: 5, heads: 2, k: 3, layers: 2, hidden: 6, bn: 4, best: 1, embedNorm: true, temp: 0.2, trainer: 2},
	} {
		t.Run(fmt.Sprintf("L%d-norm%v-l2%v-trainer%d", a.layers, a.embedNorm, a.l2Norm, a.trainer), func(t *testing.T) {
			r := writeRun(t, a, uint64(a.layers*10+a.d))
			m, err := Load(r.dir)
			if err != nil {
				t.Fatal(err)
			}
			if m.D != a.d || m.Heads != a.heads || m.K != a.k || m.Layers != a.layers || m.Bottleneck != a.bn || m.BestHead() != a.best {
				t.Fatalf("architecture %+v, want %+v", m, a)
			}
			const n = 25
			x := r.newEmbeddings(n, 3)
			for h := range a.heads {
				hd, err := m.Head(h)
				if err != nil {
					t.Fatal(err)
				}
				want := r.reference(h, x, n)
				got := make([]float64, n*a.k)
				if err := hd.Logits(x, n, got); err != nil {
					t.Fatal(err)
				}
				for i := range got {
					// The normalisation runs in float32 as the trainer's
					// does, the reference in float64.
					if math.Abs(got[i]-want[i]) > 1e-5*(1+math.Abs(want[i])) {
						t.Fatalf("head %d logit %d: %v, want %v", h, i, got[i], want[i])
					}
				}
				clusters, probs := make([]int32, n), make([]float32, n*a.k)
				if err := hd.Assign(x, n, clusters, probs); err != nil {
					t.Fatal(err)
				}
				for i := range n {
					row := want[i*a.k : (i+1)*a.k]
					best, sum := 0, 0.0
					for c := range row {
						if row[c] > row[best] {
							best = c
						}
					}
					for c := range row {
						sum += math.Exp((row[c] - row[best]) / a.temp)
					}
					if int(clusters[i]) != best {
						t.Errorf("head %d row %d: cluster %d, want %d", h, i, clusters[i], best)
					}
					for c := range row {
						p := math.Exp((row[c]-row[best])/a.temp) / sum
						if math.Abs(float64(probs[i*a.k+c])-p) > 1e-5 {
							t.Errorf("head %d row %d: p[%d] = %v, want %v", h, i, c, probs[i*a.k+c], p)
						}
					}
				}
				checkParams(t, hd, x, n, got)
			}
		})
	}
}

// checkParams runs the forward pass on Head.Params in float32, as the ONNX
// export lays it out, and compares with the float64 logits.
func checkParams(t *testing.T, hd *Head, x []float32, n int, want []float64) {
	t.Helper()
	p := hd.Params()
	for i := range n {
		row := append([]float32(nil), x[i*p.D:(i+1)*p.D]...)
		if p.Mean != nil {
			for j := range row {
				row[j] = (row[j] - p.Mean[j]) / p.Std[j]
			}
		}
		if p.L2Norm {
			var s float32
			for _, v := range row {
				s += v * v
			}
			for j := range row {
				row[j] /= float32(max(math.Sqrt(float64(s)), 1e-12))
			}
		}
		z := make([]float32, p.Out0)
		for o := range p.Out0 {
			z[o] = p.B0[o]
			for j := range p.D {
				z[o] += row[j] * p.W0T[j*p.Out0+o]
			}
		}
		for _, l := range p.Layers {
			next := append([]float32(nil), l.B...)
			for j := range l.In {
				g := float32(0.5 * float64(z[j]) * (1 + math.Erf(float64(z[j])/math.Sqrt2)))
				for o := range l.Out {
					next[o] += g * l.W[j*l.Out+o]
				}
			}
			z = next
		}
		var ss float32
		for _, v := range z {
			ss += v * v
		}
		denom := float32(max(math.Sqrt(float64(ss)), 1e-12))
		for c := range p.K {
			var s float32
			for j := range p.Bottleneck {
				s += z[j] * p.LastT[j*p.K+c]
			}
			got := float64(s / denom)
			if w := want[i*p.K+c]; math.Abs(got-w) > 1e-4*(1+math.Abs(w)) {
				t.Fatalf("Params forward, row %d logit %d: %v, want %v", i, c, got, w)
			}
		}
	}
}

func TestStatisticsAsTheTrainer(t *testing.T) {
	x := []float32{1, 5, 2, 5, 4, 5}
	mean, std := Statistics(x, 3, 2)
	if mean[0] != float32(7.0/3) || mean[1] != 5 {
		t.Errorf("mean %v", mean)
	}
	if want := float32(math.Sqrt(((1-7.0/3)*(1-7.0/3) + (2-7.0/3)*(2-7.0/3) + (4-7.0/3)*(4-7.0/3)) / 2)); std[0] != want || std[1] != 1 {
		t.Errorf("std %v, want [%v 1] (a constant column only centred)", std, want)
	}
	if _, std := Statistics([]float32{3, 4}, 1, 2); std[0] != 1 || std[1] != 1 {
		t.Errorf("one row: std %v, want ones", std)
	}
}

func TestLoadRefuses(t *testing.T) {
	base := arch{d: 4, heads: 2, k: 3, layers: 2, hidden: 5, bn: 3, best: 1, embedNorm: true, temp: 0.1}
	cases := []struct {
		name  string
		spoil func(r *fakeRun)
		want  string
	}{
		{"unfinished", func(r *fakeRun) {
			rec, _ := rundir.ReadRecord(r.dir)
			rec.Status, rec.Error = rundir.StatusInterrupted, "interrupted by SIGINT"
			rundir.WriteRecord(r.dir, rec)
		}, "status interrupted (interrupted by SIGINT), not finished"},
		{"no checkpoint", func(r *fakeRun) { os.Remove(filepath.Join(r.dir, rundir.CheckpointFile)) }, "trained without clusterlab's shared trainer"},
		{"cache gone", func(r *fakeRun) { os.Remove(r.train) }, filepath.Join("trial", rundir.ConfigFile) + "` from the folder the run was started in"},
		{"cache changed", func(r *fakeRun) {
			r.x[0]++
			npy.WriteFloat32(r.train, r.x, r.n, r.a.d)
		}, "is not the file it trained on"},
		{"stale checkpoint", func(r *fakeRun) {
			writeCheckpoint(t, filepath.Join(r.dir, rundir.CheckpointFile), r.a.specs(), r.params, 2)
		}, "after epoch 2, but the run trained 3 epochs"},
		{"not a run", func(r *fakeRun) {
			os.Remove(filepath.Join(r.dir, rundir.RecordFile))
			os.Remove(filepath.Join(r.dir, rundir.MetricsFile))
		}, "not a run directory"},
		{"other clusters", func(r *fakeRun) {
			mf, _ := rundir.ReadMetrics(r.dir)
			mf.Clusters = 7
			rundir.WriteMetrics(r.dir, mf)
		}, "3 clusters, metrics.json says 7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := writeRun(t, base, 1)
			c.spoil(r)
			_, err := Load(r.dir)
			if err == nil || !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want invalid input saying %q", err, c.want)
			}
		})
	}
	m, err := Load(writeRun(t, base, 1).dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Head(2); err == nil || !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), "heads 0 to 1 (its selected head is 1)") {
		t.Errorf("head 2 of 2: %v", err)
	}
}
