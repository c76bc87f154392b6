package main

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// reader splits n images of g into batches of at most size.
func reader(px []uint8, n int, g geometry, size int) *plugintest.Batches {
	r := &plugintest.Batches{}
	d := g.dim()
	for lo := 0; lo < n; lo += size {
		c := min(size, n-lo)
		r.List = append(r.List, core.ImageBatch{
			Offset: lo, Count: c, Height: g.h, Width: g.w, Channels: g.c,
			Pixels: px[lo*d : (lo+c)*d], Labels: make([]int32, c),
		})
	}
	return r
}

// synthetic holds images drawn from a known linear model:
// pixels = round(128 + sum_j amp_j z_j axis_j + noise), z_j ~ N(0, 1).
type synthetic struct {
	g    geometry
	n    int
	px   []uint8
	axes [][]float64 // orthonormal, by decreasing amplitude
}

func makeSynthetic(n int, g geometry, amps []float64, seed uint64) synthetic {
	d := g.dim()
	r := rand.New(rand.NewPCG(seed, 7))
	// Gram-Schmidt on random vectors gives orthonormal axes.
	var axes [][]float64
	for range amps {
		v := make([]float64, d)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		for _, a := range axes {
			dot := 0.0
			for i := range v {
				dot += v[i] * a[i]
			}
			for i := range v {
				v[i] -= dot * a[i]
			}
		}
		norm := 0.0
		for _, x := range v {
			norm += x * x
		}
		for i := range v {
			v[i] /= math.Sqrt(norm)
		}
		axes = append(axes, v)
	}
	px := make([]uint8, n*d)
	for k := range n {
		row := make([]float64, d)
		for i := range row {
			row[i] = 128 + 2*r.NormFloat64()
		}
		for j, a := range amps {
			z := r.NormFloat64() * a
			for i := range row {
				row[i] += z * axes[j][i]
			}
		}
		for i, v := range row {
			px[k*d+i] = uint8(math.Round(math.Max(0, math.Min(255, v))))
		}
	}
	return synthetic{g: g, n: n, px: px, axes: axes}
}

func fitState(t *testing.T, opts core.Options, s synthetic) string {
	t.Helper()
	dir := t.TempDir()
	req := core.EmbedRequest{Options: opts, StateDir: dir, Split: core.SplitTrain}
	if err := (Backbone{}).Fit(context.Background(), req, reader(s.px, s.n, s.g, 300)); err != nil {
		t.Fatalf("fit %v: %v", opts, err)
	}
	return dir
}

func embed(t *testing.T, opts core.Options, dir string, px []uint8, n int, g geometry) ([]float32, int) {
	t.Helper()
	var out []float32
	dim := -1
	req := core.EmbedRequest{Options: opts, StateDir: dir, Split: core.SplitTrain}
	err := Backbone{}.Embed(context.Background(), req, reader(px, n, g, 128), func(b core.EmbeddingBatch) error {
		if b.Offset*max(dim, 0) != len(out) || len(b.Values) != b.Count*b.Dim || (dim >= 0 && b.Dim != dim) {
			t.Fatalf("bad embedding batch: offset %d, count %d, dim %d, %d values", b.Offset, b.Count, b.Dim, len(b.Values))
		}
		dim = b.Dim
		out = append(out, b.Values...)
		return nil
	})
	if err != nil {
		t.Fatalf("embed %v: %v", opts, err)
	}
	return out, dim
}

func readNpy(t *testing.T, path string) ([]float32, []int) {
	t.Helper()
	v, shape, err := npy.ReadFloat32(path)
	if err != nil {
		t.Fatal(err)
	}
	return v, shape
}

// referenceEigen computes the sample covariance of px/255 naively and its
// top k eigenpairs by power iteration with deflation, with the same sign
// rule as the backbone (largest |entry| positive).
func referenceEigen(px []uint8, n, d, k int) (vecs [][]float64, vals []float64, mean []float64) {
	mean = make([]float64, d)
	for i := range n {
		for j := range d {
			mean[j] += float64(px[i*d+j]) / 255
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	cov := make([][]float64, d)
	for a := range d {
		cov[a] = make([]float64, d)
		for b := range d {
			s := 0.0
			for i := range n {
				s += (float64(px[i*d+a])/255 - mean[a]) * (float64(px[i*d+b])/255 - mean[b])
			}
			cov[a][b] = s / float64(n-1)
		}
	}
	for range k {
		v := make([]float64, d)
		for j := range v {
			v[j] = 1 / math.Sqrt(float64(d)) * float64(1+j%3)
		}
		var lambda float64
		for range 5000 {
			w := make([]float64, d)
			for a := range d {
				for b := range d {
					w[a] += cov[a][b] * v[b]
				}
			}
			norm := 0.0
			for _, x := range w {
				norm += x * x
			}
			norm = math.Sqrt(norm)
			lambda = norm
			for j := range w {
				v[j] = w[j] / norm
			}
		}
		best := 0
		for j := range v {
			if math.Abs(v[j]) > math.Abs(v[best]) {
				best = j
			}
		}
		if v[best] < 0 {
			for j := range v {
				v[j] = -v[j]
			}
		}
		vecs = append(vecs, v)
		vals = append(vals, lambda)
		for a := range d {
			for b := range d {
				cov[a][b] -= lambda * v[a] * v[b]
			}
		}
	}
	return vecs, vals, mean
}

func TestPCAMatchesReference(t *testing.T) {
	g := geometry{4, 3, 1}
	s := makeSynthetic(2000, g, []float64{40, 20, 8}, 1)
	opts := core.Options{"pca_dims": 3}
	info, err := Backbone{}.Describe(context.Background(), opts)
	if err != nil || !info.NeedsFit {
		t.Fatalf("describe: %+v, %v", info, err)
	}
	dir := fitState(t, opts, s)
	comps, shape := readNpy(t, filepath.Join(dir, fileComps))
	if !slices.Equal(shape, []int{3, 12}) {
		t.Fatalf("components shape %v", shape)
	}
	vars, _ := readNpy(t, filepath.Join(dir, fileVariances))
	mean, _ := readNpy(t, filepath.Join(dir, fileMean))

	refVecs, refVals, refMean := referenceEigen(s.px, s.n, 12, 3)
	for j := range 12 {
		if math.Abs(float64(mean[j])-refMean[j]) > 1e-6 {
			t.Errorf("mean[%d] = %g, reference %g", j, mean[j], refMean[j])
		}
	}
	for c := range 3 {
		comp := comps[c*12 : (c+1)*12]
		for j := range 12 {
			if math.Abs(float64(comp[j])-refVecs[c][j]) > 1e-5 {
				t.Errorf("component %d entry %d = %g, power iteration gives %g", c, j, comp[j], refVecs[c][j])
			}
		}
		if math.Abs(float64(vars[c])-refVals[c]) > 1e-5*refVals[c] {
			t.Errorf("variance %d = %g, reference %g", c, vars[c], refVals[c])
		}
		// The generating axes are recovered up to sign and sampling noise.
		cos := 0.0
		for j := range 12 {
			cos += float64(comp[j]) * s.axes[c][j]
		}
		if math.Abs(cos) < 0.99 {
			t.Errorf("component %d is at |cos| %.4f from the generating axis", c, math.Abs(cos))
		}
	}
	// Variances in pixel units (/255)^2: about 40^2, 20^2, 8^2 plus noise.
	for c, amp := range []float64{40, 20, 8} {
		want := (amp*amp + 4 + 1.0/12) / (255 * 255)
		if r := float64(vars[c]) / want; r < 0.9 || r > 1.1 {
			t.Errorf("variance %d is %.4g, the model gives about %.4g", c, vars[c], want)
		}
	}

	// Embed computes components · (pixels/255 - mean).
	emb, dim := embed(t, opts, dir, s.px, s.n, g)
	if dim != 3 || len(emb) != s.n*3 {
		t.Fatalf("embedding dim %d, %d values", dim, len(emb))
	}
	for i := range s.n {
		for c := range 3 {
			want := 0.0
			for j := range 12 {
				want += float64(comps[c*12+j]) * (float64(s.px[i*12+j])/255 - float64(mean[j]))
			}
			if math.Abs(float64(emb[i*3+c])-want) > 1e-5 {
				t.Fatalf("image %d dim %d: %g, want %g", i, c, emb[i*3+c], want)
			}
		}
	}
}

func TestFitIsDeterministic(t *testing.T) {
	g := geometry{5, 4, 2}
	s := makeSynthetic(1500, g, []float64{30, 25, 10, 5}, 2)
	opts := core.Options{"pca_dims": 4, "standardize": true, "pca_fit_samples": 900}
	a, b := fitState(t, opts, s), fitState(t, opts, s)
	for _, name := range []string{fileMean, fileComps, fileVariances, fileStd} {
		x, err := os.ReadFile(filepath.Join(a, name))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(x) != string(y) {
			t.Errorf("%s differs between two fits", name)
		}
	}
	// The partial covariances are summed in a fixed order: one core or
	// many give the same bits.
	d := g.dim()
	mean := pixelMean(s.px, d, s.n, nil)
	prev := runtime.GOMAXPROCS(1)
	c1, err := covariance(context.Background(), s.px, d, s.n, nil, mean)
	runtime.GOMAXPROCS(max(prev, 4))
	c2, err2 := covariance(context.Background(), s.px, d, s.n, nil, mean)
	runtime.GOMAXPROCS(prev)
	if err != nil || err2 != nil {
		t.Fatal(err, err2)
	}
	if !slices.Equal(c1.RawSymmetric().Data, c2.RawSymmetric().Data) {
		t.Errorf("covariance depends on GOMAXPROCS")
	}
}

func TestComponentSignRule(t *testing.T) {
	s := makeSynthetic(800, geometry{3, 3, 1}, []float64{30, 15}, 3)
	dir := fitState(t, core.Options{"pca_dims": 5}, s)
	comps, _ := readNpy(t, filepath.Join(dir, fileComps))
	vars, _ := readNpy(t, filepath.Join(dir, fileVariances))
	for c := range 5 {
		comp := comps[c*9 : (c+1)*9]
		best, norm := 0, 0.0
		for j, v := range comp {
			norm += float64(v) * float64(v)
			if math.Abs(float64(v)) > math.Abs(float64(comp[best])) {
				best = j
			}
		}
		if comp[best] <= 0 || math.Abs(norm-1) > 1e-5 {
			t.Errorf("component %d: largest entry %g (want > 0), norm^2 %g", c, comp[best], norm)
		}
		if c > 0 && vars[c] > vars[c-1] {
			t.Errorf("variances not decreasing: %v", vars)
		}
	}
}

func TestEmbedNeedsFit(t *testing.T) {
	g := geometry{3, 3, 1}
	s := makeSynthetic(300, g, []float64{30, 15}, 4)
	ctx := context.Background()
	send := func(core.EmbeddingBatch) error { return nil }
	opts := core.Options{"pca_dims": 2}
	err := Backbone{}.Embed(ctx, core.EmbedRequest{Options: opts, StateDir: t.TempDir()}, reader(s.px, s.n, g, 100), send)
	if err == nil || !strings.Contains(err.Error(), "run Fit first") || !strings.Contains(err.Error(), "no fitted state") {
		t.Errorf("embed without fit: %v", err)
	}
	err = Backbone{}.Embed(ctx, core.EmbedRequest{Options: opts}, reader(s.px, s.n, g, 100), send)
	if err == nil || !strings.Contains(err.Error(), "run Fit first") {
		t.Errorf("embed without state dir: %v", err)
	}
	dir := fitState(t, opts, s)
	err = Backbone{}.Embed(ctx, core.EmbedRequest{Options: core.Options{"pca_dims": 2, "whiten": true}, StateDir: dir}, reader(s.px, s.n, g, 100), send)
	if err == nil || !strings.Contains(err.Error(), "fitted with options") || !strings.Contains(err.Error(), "run Fit first") {
		t.Errorf("embed with other options: %v", err)
	}
	other := geometry{1, 9, 1}
	err = Backbone{}.Embed(ctx, core.EmbedRequest{Options: opts, StateDir: dir}, reader(s.px, s.n, other, 100), send)
	if err == nil || !strings.Contains(err.Error(), "fitted state has 3x3x1") {
		t.Errorf("embed of other geometry: %v", err)
	}
	// A damaged array is caught by its checksum.
	meanPath := filepath.Join(dir, fileMean)
	if err := npy.WriteFloat32(meanPath, make([]float32, 9), 9); err != nil {
		t.Fatal(err)
	}
	err = Backbone{}.Embed(ctx, core.EmbedRequest{Options: opts, StateDir: dir}, reader(s.px, s.n, g, 100), send)
	if err == nil || !strings.Contains(err.Error(), "damaged or stale") {
		t.Errorf("embed with a damaged state: %v", err)
	}
}

// meanStd returns the per-dimension mean and population std of n rows.
func meanStd(v []float32, n, dim int) (mean, std []float64) {
	mean, std = make([]float64, dim), make([]float64, dim)
	for i := range n {
		for j := range dim {
			mean[j] += float64(v[i*dim+j])
		}
	}
	for j := range dim {
		mean[j] /= float64(n)
	}
	for i := range n {
		for j := range dim {
			x := float64(v[i*dim+j]) - mean[j]
			std[j] += x * x
		}
	}
	for j := range dim {
		std[j] = math.Sqrt(std[j] / float64(n))
	}
	return mean, std
}

func TestStandardizeAndWhiten(t *testing.T) {
	g := geometry{4, 4, 1}
	s := makeSynthetic(2000, g, []float64{40, 30, 20, 10, 5}, 5)
	// Pixel 0 is constant: standardisation must leave it centred, not divide by 0.
	for i := range s.n {
		s.px[i*16] = 17
	}
	cases := []struct {
		opts    core.Options
		dim     int
		wantStd float64
	}{
		{core.Options{"standardize": true}, 16, 1},
		{core.Options{"pca_dims": 5, "standardize": true}, 5, 1},
		{core.Options{"pca_dims": 5, "standardize": true, "pca_fit_samples": 500, "whiten": true}, 5, 1},
		// Whitened components have unit variance with ddof=1 on the fit
		// images, so sqrt((n-1)/n) with ddof=0.
		{core.Options{"pca_dims": 5, "whiten": true}, 5, math.Sqrt(1999.0 / 2000)},
	}
	for _, c := range cases {
		dir := fitState(t, c.opts, s)
		emb, dim := embed(t, c.opts, dir, s.px, s.n, g)
		if dim != c.dim {
			t.Fatalf("%v: dim %d, want %d", c.opts, dim, c.dim)
		}
		mean, std := meanStd(emb, s.n, dim)
		for j := range dim {
			if c.dim == 16 && j == 0 {
				if mean[0] != 0 || std[0] != 0 {
					t.Errorf("%v: the constant pixel embeds with mean %g std %g, want 0 0", c.opts, mean[0], std[0])
				}
				continue
			}
			if math.Abs(mean[j]) > 1e-5 || math.Abs(std[j]-c.wantStd) > 1e-4 {
				t.Errorf("%v: dim %d has train mean %g, std %g; want 0, %g", c.opts, j, mean[j], std[j], c.wantStd)
			}
		}
	}
}

func TestRawPixels(t *testing.T) {
	g := geometry{2, 3, 3}
	s := makeSynthetic(50, g, []float64{30}, 6)
	info, err := Backbone{}.Describe(context.Background(), core.Options{})
	if err != nil || info.NeedsFit || !strings.Contains(info.Identity, Version) {
		t.Fatalf("describe raw: %+v, %v", info, err)
	}
	dir := t.TempDir()
	if err := (Backbone{}).Fit(context.Background(), core.EmbedRequest{Options: core.Options{}, StateDir: dir, Split: core.SplitTrain}, reader(s.px, s.n, g, 10)); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("fit of raw pixels wrote %d files", len(entries))
	}
	emb, dim := embed(t, core.Options{}, "", s.px, s.n, g)
	if dim != 18 {
		t.Fatalf("dim %d, want 18", dim)
	}
	for i, p := range s.px {
		if emb[i] != float32(p)/255 {
			t.Fatalf("value %d: %g, want %g", i, emb[i], float32(p)/255)
		}
	}
}

func TestOptionAndFitErrors(t *testing.T) {
	ctx := context.Background()
	for opts, want := range map[string]core.Options{
		`"whiten"`:          {"whiten": true},
		`"pca_fit_samples"`: {"pca_fit_samples": 10},
		`"pca_dims"`:        {"pca_dims": -1},
		`"pca_dim"`:         {"pca_dim": 3},
	} {
		if _, err := (Backbone{}).Describe(ctx, want); err == nil || !strings.Contains(err.Error(), opts) {
			t.Errorf("options %v: %v", want, err)
		}
	}
	info, err := Backbone{}.Describe(ctx, core.Options{"pca_dims": 8})
	if err != nil || info.Identity == "" {
		t.Fatal(err)
	}
	info2, _ := Backbone{}.Describe(ctx, core.Options{"pca_dims": 9})
	if info.Identity == info2.Identity {
		t.Errorf("identity ignores pca_dims: %q", info.Identity)
	}

	g := geometry{2, 2, 1}
	s := makeSynthetic(100, g, []float64{30}, 7)
	fitErr := func(opts core.Options, split, dir string) error {
		return Backbone{}.Fit(ctx, core.EmbedRequest{Options: opts, StateDir: dir, Split: split}, reader(s.px, s.n, g, 30))
	}
	if err := fitErr(core.Options{"pca_dims": 5}, core.SplitTrain, t.TempDir()); err == nil || !strings.Contains(err.Error(), "exceeds the 4 values") {
		t.Errorf("pca_dims above D: %v", err)
	}
	if err := fitErr(core.Options{"pca_dims": 2}, core.SplitTest, t.TempDir()); err == nil || !strings.Contains(err.Error(), `"train" split`) {
		t.Errorf("fit on test: %v", err)
	}
	if err := fitErr(core.Options{"pca_dims": 2}, core.SplitTrain, ""); err == nil || !strings.Contains(err.Error(), "state directory") {
		t.Errorf("fit without state dir: %v", err)
	}
	// Constant images have no principal axes to whiten.
	flat := make([]uint8, 100*4)
	err = Backbone{}.Fit(ctx, core.EmbedRequest{Options: core.Options{"pca_dims": 2, "whiten": true}, StateDir: t.TempDir(), Split: core.SplitTrain}, reader(flat, 100, g, 30))
	if err == nil || !strings.Contains(err.Error(), "lower pca_dims") {
		t.Errorf("whiten of constant images: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err = Backbone{}.Fit(cctx, core.EmbedRequest{Options: core.Options{"pca_dims": 2}, StateDir: t.TempDir(), Split: core.SplitTrain}, reader(s.px, s.n, g, 30))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled fit: %v", err)
	}
	// Batches must be consecutive.
	r := reader(s.px, s.n, g, 30)
	r.List = append(r.List[:1], r.List[2:]...)
	if err := (Backbone{}).Fit(ctx, core.EmbedRequest{Options: core.Options{"pca_dims": 2}, StateDir: t.TempDir(), Split: core.SplitTrain}, r); err == nil || !strings.Contains(err.Error(), "consecutive") {
		t.Errorf("gap in batches: %v", err)
	}
}

func TestFitSubset(t *testing.T) {
	if fitSubset(100, 0) != nil || fitSubset(100, 100) != nil || fitSubset(100, 500) != nil {
		t.Errorf("subset of all images should be nil (all)")
	}
	a, b := fitSubset(10000, 1000), fitSubset(10000, 1000)
	if !slices.Equal(a, b) || len(a) != 1000 || !slices.IsSorted(a) {
		t.Fatalf("subset not deterministic, sorted and of the asked size")
	}
	half := 0
	for i, x := range a {
		if i > 0 && x == a[i-1] {
			t.Fatalf("duplicate index %d", x)
		}
		if x < 5000 {
			half++
		}
	}
	if half < 420 || half > 580 { // binomial(1000, 0.5): mean 500, sd 16
		t.Errorf("%d of 1000 sampled indices in the first half: not uniform", half)
	}
}
