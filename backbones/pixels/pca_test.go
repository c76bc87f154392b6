package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// covariancePCA is the PCA by the D x D covariance whatever n, the path
// the Gram matrix must agree with.
func covariancePCA(t *testing.T, px []uint8, d, n int, rows []int, mean []float64, k int) pcaResult {
	t.Helper()
	count := n
	if rows != nil {
		count = len(rows)
	}
	cov, err := covarianceMatrix(context.Background(), px, d, count, rows, mean)
	if err != nil {
		t.Fatal(err)
	}
	res, err := topComponents(&pcaMatrix{SymDense: cov}, k)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestGramMatchesCovariance: with fewer fit images than values the PCA
// goes through the n x n Gram matrix and gives the covariance's components
// (signs included) and variances to rounding, on all images and on a
// pca_fit_samples subset.
func TestGramMatchesCovariance(t *testing.T) {
	g := geometry{8, 8, 3} // 192 values
	s := makeSynthetic(90, g, []float64{40, 25, 15, 8, 5}, 21)
	d := g.dim()
	for _, rows := range [][]int{nil, fitSubset(s.n, 50)} {
		mean := pixelMean(s.px, d, s.n, rows)
		m, err := covariance(context.Background(), s.px, d, s.n, rows, mean)
		if err != nil {
			t.Fatal(err)
		}
		count := s.n
		if rows != nil {
			count = len(rows)
		}
		if m.gram == nil || m.SymmetricDim() != count {
			t.Fatalf("%d images of %d values: decomposed a %dx%d matrix (Gram: %v), want the %dx%d Gram matrix", count, d, m.SymmetricDim(), m.SymmetricDim(), m.gram != nil, count, count)
		}
		const k = 6
		got, err := topComponents(m, k)
		if err != nil {
			t.Fatal(err)
		}
		want := covariancePCA(t, s.px, d, s.n, rows, mean, k)
		if math.Abs(got.totalVariance-want.totalVariance) > 1e-12*want.totalVariance {
			t.Errorf("%d images: total variance %.17g, covariance gives %.17g", count, got.totalVariance, want.totalVariance)
		}
		for c := range k {
			if math.Abs(got.variances[c]-want.variances[c]) > 1e-9*want.variances[0] {
				t.Errorf("%d images: variance %d is %.17g, covariance gives %.17g", count, c, got.variances[c], want.variances[c])
			}
			worst := 0.0
			for j := range d {
				worst = math.Max(worst, math.Abs(got.components[c*d+j]-want.components[c*d+j]))
			}
			if worst > 1e-9 {
				t.Errorf("%d images: component %d differs from the covariance's by up to %.3g", count, c, worst)
			}
		}
	}
}

// TestGramPathStateAndEmbeddings: a fit on fewer images than values (the
// Gram path) stores the covariance's mean, components and variances, and
// embeds as components · (pixels/255 - mean), with whitening and
// standardisation too.
func TestGramPathStateAndEmbeddings(t *testing.T) {
	g := geometry{6, 10, 3} // 180 values
	s := makeSynthetic(70, g, []float64{35, 20, 12, 6}, 22)
	d := g.dim()
	for _, opts := range []core.Options{
		{"pca_dims": 4},
		{"pca_dims": 4, "whiten": true, "standardize": true},
		{"pca_dims": 3, "pca_fit_samples": 40},
	} {
		k := int(opts["pca_dims"].(int))
		var rows []int
		if fs, ok := opts["pca_fit_samples"].(int); ok {
			rows = fitSubset(s.n, fs)
		}
		dir := fitState(t, opts, s)
		comps, shape := readNpy(t, filepath.Join(dir, fileComps))
		vars, _ := readNpy(t, filepath.Join(dir, fileVariances))
		mean, _ := readNpy(t, filepath.Join(dir, fileMean))
		if !slices.Equal(shape, []int{k, d}) {
			t.Fatalf("%v: components of shape %v", opts, shape)
		}
		wantMean := pixelMean(s.px, d, s.n, rows)
		if opts["standardize"] == true {
			wantMean = pixelMean(s.px, d, s.n, nil)
		}
		want := covariancePCA(t, s.px, d, s.n, rows, pixelMean(s.px, d, s.n, rows), k)
		for j := range d {
			if math.Abs(float64(mean[j])-wantMean[j]) > 1e-7 {
				t.Fatalf("%v: mean[%d] = %g, want %g", opts, j, mean[j], wantMean[j])
			}
		}
		for c := range k {
			if math.Abs(float64(vars[c])-want.variances[c]) > 1e-6*want.variances[c] {
				t.Errorf("%v: variance %d = %g, covariance gives %g", opts, c, vars[c], want.variances[c])
			}
			for j := range d {
				if math.Abs(float64(comps[c*d+j])-want.components[c*d+j]) > 1e-6 {
					t.Fatalf("%v: component %d entry %d = %g, covariance gives %g", opts, c, j, comps[c*d+j], want.components[c*d+j])
				}
			}
		}
		// The embedding, computed here in float64 from the covariance's
		// PCA (standardised by the population std of its train output).
		emb, dim := embed(t, opts, dir, s.px, s.n, g)
		if dim != k {
			t.Fatalf("%v: embedding dim %d", opts, dim)
		}
		ref := make([]float64, s.n*k)
		for i := range s.n {
			for c := range k {
				var z float64
				for j := range d {
					z += want.components[c*d+j] * (float64(s.px[i*d+j])/255 - wantMean[j])
				}
				if opts["whiten"] == true {
					z /= math.Sqrt(want.variances[c])
				}
				ref[i*k+c] = z
			}
		}
		if opts["standardize"] == true {
			for c := range k {
				var sum, sq float64
				for i := range s.n {
					sum += ref[i*k+c]
					sq += ref[i*k+c] * ref[i*k+c]
				}
				m := sum / float64(s.n)
				std := math.Sqrt(sq/float64(s.n) - m*m)
				for i := range s.n {
					ref[i*k+c] /= std
				}
			}
		}
		for i := range ref {
			if math.Abs(float64(emb[i])-ref[i]) > 1e-4*math.Max(1, math.Abs(ref[i])) {
				t.Fatalf("%v: value %d (image %d) is %g, the covariance's PCA gives %g", opts, i, i/k, emb[i], ref[i])
			}
		}
	}
}

// TestGramPathDegenerate: identical images have no variance; the Gram
// matrix cannot map its zero eigenvalues back, and the components are
// completed to an orthonormal set (as the covariance's null space gives
// one), embedding every image at 0. Whitening them is refused.
func TestGramPathDegenerate(t *testing.T) {
	g := geometry{4, 4, 3}
	n, d := 10, g.dim()
	px := make([]uint8, n*d)
	for i := range px {
		px[i] = uint8(i % d)
	}
	s := synthetic{g: g, n: n, px: px}
	dir := fitState(t, core.Options{"pca_dims": 3}, s)
	comps, _ := readNpy(t, filepath.Join(dir, fileComps))
	for a := range 3 {
		for b := range 3 {
			var dot float64
			for j := range d {
				dot += float64(comps[a*d+j]) * float64(comps[b*d+j])
			}
			want := 0.0
			if a == b {
				want = 1
			}
			if math.Abs(dot-want) > 1e-6 {
				t.Errorf("components %d and %d: dot %g, want %g", a, b, dot, want)
			}
		}
	}
	emb, _ := embed(t, core.Options{"pca_dims": 3}, dir, px, n, g)
	for i, v := range emb {
		if math.Abs(float64(v)) > 1e-6 {
			t.Fatalf("value %d of identical images is %g, want 0", i, v)
		}
	}
	err := Backbone{}.Fit(context.Background(), core.EmbedRequest{Options: core.Options{"pca_dims": 2, "whiten": true}, StateDir: t.TempDir(), Split: core.SplitTrain}, reader(px, n, g, 4))
	if err == nil {
		t.Errorf("whitening identical images: no error")
	}
}

// TestGramIsDeterministic: the Gram matrix is the same bits on one core
// or many (it is large enough for gonum's Gemm to split it).
func TestGramIsDeterministic(t *testing.T) {
	g := geometry{10, 20, 3}
	s := makeSynthetic(300, g, []float64{30, 10}, 23)
	d := g.dim()
	mean := pixelMean(s.px, d, s.n, nil)
	prev := runtime.GOMAXPROCS(1)
	a, err := covariance(context.Background(), s.px, d, s.n, nil, mean)
	runtime.GOMAXPROCS(max(prev, 4))
	b, err2 := covariance(context.Background(), s.px, d, s.n, nil, mean)
	runtime.GOMAXPROCS(prev)
	if err != nil || err2 != nil {
		t.Fatal(err, err2)
	}
	if a.gram == nil || !slices.Equal(a.RawSymmetric().Data, b.RawSymmetric().Data) {
		t.Errorf("Gram matrix (used: %v) depends on GOMAXPROCS", a.gram != nil)
	}
}

// TestPCATooLarge: a PCA whose matrix would pass maxPCAMatrixBytes is
// refused before anything is allocated, naming the option that shrinks
// it and saying how.
func TestPCATooLarge(t *testing.T) {
	for _, tc := range []struct {
		n, d int
		key  string
	}{
		{40000, 224 * 224 * 3, optPCAFitSamples}, // many photos at full size
		{100000, 40000, optPCADims},              // more images than values, both large
	} {
		_, err := covariance(context.Background(), nil, tc.d, tc.n, nil, nil)
		what := fmt.Sprintf("PCA of %d images of %d values", tc.n, tc.d)
		plugintest.WantInvalid(t, what, err, "resize", "center_crop", "pca_fit_samples", "32768")
		plugintest.CheckOptionError(t, what, err, tc.key)
	}
	// STL-10's train split at full size: the 5000x5000 Gram matrix.
	if err := checkPCASize(5000, 96*96*3); err != nil {
		t.Errorf("5000 images of 96x96x3: %v", err)
	}
	if err := checkPCASize(32768, 1<<20); err != nil {
		t.Errorf("the largest allowed matrix: %v", err)
	}
}
