package main

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"

	"github.com/clusterlab/clusterlab/core"
)

// PCA, exactly:
//
//  1. x = pixels/255 (float64), one row of D = H*W*C values per image.
//  2. mean = the average of x over the n fit images (the whole train split,
//     or a seeded uniform subset of pca_fit_samples of them).
//  3. With n >= D: cov = (X-mean)^T (X-mean) / (n-1), the sample covariance
//     (ddof=1, as numpy.cov and sklearn), accumulated in float64: the
//     centred rows are taken in chunks of chunkRows, transposed, and added
//     with the BLAS rank-k update blas64.Syrk (upper triangle) into
//     covPartitions partial sums that are added in a fixed order, so the
//     result does not depend on the number of cores. gonum mat.EigenSym of
//     cov; the pca_dims largest eigenvalues, sorted in decreasing order, are
//     the explained variances and their unit eigenvectors the components.
//  4. With n < D (large images, few fit images: 5000 STL-10 images of
//     96x96x3 = 27648 values, whose covariance would take 6 GB), the same
//     PCA from the n x n Gram matrix G = (X-mean)(X-mean)^T / (n-1): it has
//     the covariance's non-zero eigenvalues, and for each unit eigenvector
//     u of G, (X-mean)^T u / |(X-mean)^T u| is the covariance's unit
//     eigenvector (the right singular vector of X-mean). G is accumulated
//     in float64 over chunks of gramChunkBytes of columns with blas64.Gemm,
//     in a fixed order (gonum's Gemm splits its output, never a sum, across
//     cores), so it too does not depend on the number of cores. Each
//     component is re-orthogonalised against the previous ones; one of a
//     (numerically) zero eigenvalue, which the Gram matrix cannot map back
//     (centred data has rank at most n-1), is completed by the first unit
//     axis e_j that remains after orthogonalisation, as the covariance's
//     eigensolver also returns some orthonormal basis of its null space.
//     Both paths agree to rounding (TestGramMatchesCovariance: 1e-9).
//  5. The sign of each component is fixed as sklearn's svd_flip does for
//     its components: the entry of largest absolute value is positive (the
//     first such entry on ties).
//
// The matrix decomposed has min(n, D)^2 float64 entries; above
// maxPCAMatrixBytes the fit is refused (invalid input) and the user is
// told to shrink the images (resize, center_crop) or the fit set
// (pca_fit_samples).

const (
	// chunkRows centred images are converted per Syrk call: 784 x 512
	// float64 is 3 MiB, which measured fastest on MNIST (the NoTrans update
	// is a series of contiguous dot products).
	chunkRows = 512
	// covPartitions partial covariances are accumulated concurrently.
	covPartitions = 4
	// gramChunkBytes of centred float64 values (n images x a band of
	// columns) are built per Gemm call of the Gram path.
	gramChunkBytes = 16 << 20
	// maxPCAMatrixBytes bounds the min(n, D)^2 float64 matrix the PCA
	// decomposes (and so, with a few copies of it, the fit's memory): 8 GiB
	// is a 32768 x 32768 matrix. Time is not bounded: gonum's full
	// eigen-decomposition costs O(min(n, D)^3), measured 57 s for 2000 x
	// 2000 on 2 shared cores.
	maxPCAMatrixBytes = 8 << 30
)

// pixelMean returns the mean of px/255 over the selected rows (nil: all n).
// Integer sums keep it exact before the single division.
func pixelMean(px []uint8, d, n int, rows []int) []float64 {
	sums := make([]uint64, d)
	add := func(r int) {
		row := px[r*d : (r+1)*d]
		for j, v := range row {
			sums[j] += uint64(v)
		}
	}
	count := n
	if rows != nil {
		count = len(rows)
		for _, r := range rows {
			add(r)
		}
	} else {
		for r := range n {
			add(r)
		}
	}
	mean := make([]float64, d)
	for j, s := range sums {
		mean[j] = float64(s) / 255 / float64(count)
	}
	return mean
}

// pcaMatrix is the symmetric matrix the PCA decomposes: the D x D
// covariance, or (gram set) the n x n Gram matrix of the centred fit rows,
// divided by n-1, with what is needed to map its eigenvectors back.
type pcaMatrix struct {
	*mat.SymDense
	gram *fitRows // nil: SymDense is the covariance
}

// fitRows are the centred fit images: row i is px[row(i)]/255 - mean.
type fitRows struct {
	px    []uint8
	d     int
	rows  []int // nil: all images
	count int
	mean  []float64
}

func (f *fitRows) row(i int) int {
	if f.rows != nil {
		return f.rows[i]
	}
	return i
}

// band writes columns lo..hi of the centred rows into dst, row-major
// (count x (hi-lo)).
func (f *fitRows) band(dst []float64, lo, hi int) blas64.General {
	w := hi - lo
	g := blas64.General{Rows: f.count, Cols: w, Stride: w, Data: dst[:f.count*w]}
	for i := range f.count {
		r := f.row(i)
		src := f.px[r*f.d+lo : r*f.d+hi]
		out := g.Data[i*w : (i+1)*w]
		m := f.mean[lo:hi]
		for j, v := range src {
			out[j] = float64(v)/255 - m[j]
		}
	}
	return g
}

// bandWidth is the number of columns of a band of gramChunkBytes.
func (f *fitRows) bandWidth() int {
	return max(1, min(f.d, gramChunkBytes/8/f.count))
}

// covariance returns the matrix the PCA of px/255 over the selected rows
// (nil: all n) around mean decomposes: the sample covariance (ddof=1) as a
// D x D symmetric matrix when there are at least D fit images, else the
// n x n Gram matrix of the centred rows over n-1 (see the top of the
// file). A matrix above maxPCAMatrixBytes is refused as invalid input.
func covariance(ctx context.Context, px []uint8, d, n int, rows []int, mean []float64) (*pcaMatrix, error) {
	count := n
	if rows != nil {
		count = len(rows)
	}
	if count < 2 {
		return nil, fmt.Errorf("PCA needs at least 2 images, got %d", count)
	}
	if err := checkPCASize(count, d); err != nil {
		return nil, err
	}
	if count < d {
		return gramMatrix(ctx, &fitRows{px: px, d: d, rows: rows, count: count, mean: mean})
	}
	cov, err := covarianceMatrix(ctx, px, d, count, rows, mean)
	if err != nil {
		return nil, err
	}
	return &pcaMatrix{SymDense: cov}, nil
}

// checkPCASize refuses a PCA whose matrix (min(count, d)^2 float64) would
// exceed maxPCAMatrixBytes, naming the option that can shrink it.
func checkPCASize(count, d int) error {
	m := min(count, d)
	if float64(m)*float64(m)*8 <= maxPCAMatrixBytes {
		return nil
	}
	side := int(math.Sqrt(maxPCAMatrixBytes / 8))
	key := optPCADims // the images are the smaller side
	if count <= d {
		key = optPCAFitSamples
	}
	return core.OptionFault(key, fmt.Errorf("%w: a PCA of %d fit images of %d values each decomposes a %dx%d float64 matrix (%.1f GiB; its fit needs several times that), "+
		"more than the %d GiB this backbone allows; shrink the images with resize and/or center_crop to at most %d values (resize: 64 and center_crop: 64 give 12288 for RGB), "+
		"or fit the PCA on at most %d images with pca_fit_samples",
		core.ErrInvalidInput, count, d, m, m, float64(m)*float64(m)*8/(1<<30), maxPCAMatrixBytes>>30, side, side))
}

// gramMatrix returns G = Xc Xc^T / (count-1) of the centred rows Xc,
// accumulated over bands of columns in a fixed order.
func gramMatrix(ctx context.Context, f *fitRows) (*pcaMatrix, error) {
	n := f.count
	g := blas64.General{Rows: n, Cols: n, Stride: n, Data: make([]float64, n*n)}
	w := f.bandWidth()
	buf := make([]float64, n*w)
	for lo := 0; lo < f.d; lo += w {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a := f.band(buf, lo, min(lo+w, f.d))
		blas64.Gemm(blas.NoTrans, blas.Trans, 1, a, a, 1, g)
	}
	// The upper triangle (both are the same sums in the same order).
	gram := mat.NewSymDense(n, nil)
	raw := gram.RawSymmetric()
	inv := 1 / float64(n-1)
	for i := range n {
		for j := i; j < n; j++ {
			raw.Data[i*raw.Stride+j] = g.Data[i*n+j] * inv
		}
	}
	return &pcaMatrix{SymDense: gram, gram: f}, nil
}

// covarianceMatrix returns the sample covariance (ddof=1) of px/255 over
// the selected rows (nil: all n; count of them) around mean, as a D x D
// symmetric matrix.
func covarianceMatrix(ctx context.Context, px []uint8, d, count int, rows []int, mean []float64) (*mat.SymDense, error) {
	row := func(i int) int {
		if rows != nil {
			return rows[i]
		}
		return i
	}
	chunks := (count + chunkRows - 1) / chunkRows
	parts := min(covPartitions, chunks)
	partial := make([][]float64, parts)
	errs := make([]error, parts)
	// Partition p handles chunks p, p+parts, ...; at most GOMAXPROCS
	// partitions run at once.
	sem := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	var wg sync.WaitGroup
	for p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			acc := blas64.Symmetric{Uplo: blas.Upper, N: d, Stride: d, Data: make([]float64, d*d)}
			buf := make([]float64, d*chunkRows)
			for c := p; c < chunks; c += parts {
				if err := ctx.Err(); err != nil {
					errs[p] = err
					return
				}
				lo, hi := c*chunkRows, min((c+1)*chunkRows, count)
				b := hi - lo
				// Transposed chunk: row j holds pixel j of the b images.
				at := blas64.General{Rows: d, Cols: b, Stride: b, Data: buf[:d*b]}
				for i := lo; i < hi; i++ {
					img := px[row(i)*d : (row(i)+1)*d]
					col := i - lo
					for j, v := range img {
						at.Data[j*b+col] = float64(v)/255 - mean[j]
					}
				}
				blas64.Syrk(blas.NoTrans, 1, at, 1, acc)
			}
			partial[p] = acc.Data
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	cov := mat.NewSymDense(d, nil)
	raw := cov.RawSymmetric()
	inv := 1 / float64(count-1)
	for i := range d {
		for j := i; j < d; j++ {
			var s float64
			for p := range parts {
				s += partial[p][i*d+j]
			}
			raw.Data[i*raw.Stride+j] = s * inv
		}
	}
	return cov, nil
}

// pcaResult is the top of the eigen-decomposition of a covariance.
type pcaResult struct {
	components    []float64 // k x D, row-major, unit rows
	variances     []float64 // k eigenvalues, decreasing
	totalVariance float64   // trace of the covariance
}

// topComponents returns the k leading eigenpairs of the covariance that m
// is or stands for, sign-fixed.
func topComponents(m *pcaMatrix, k int) (pcaResult, error) {
	size := m.SymmetricDim()
	d := size
	if m.gram != nil {
		d = m.gram.d
	}
	if k < 1 || k > d {
		return pcaResult{}, fmt.Errorf("pca_dims=%d: must be between 1 and the %d values per image", k, d)
	}
	if k > size {
		return pcaResult{}, fmt.Errorf("pca_dims=%d: needs more than the %d fit images", k, size)
	}
	var es mat.EigenSym
	if !es.Factorize(m.SymDense, true) {
		return pcaResult{}, fmt.Errorf("PCA: the eigen-decomposition of the %dx%d matrix did not converge", size, size)
	}
	values := es.Values(nil) // ascending
	var vecs mat.Dense
	es.VectorsTo(&vecs)
	res := pcaResult{components: make([]float64, k*d), variances: make([]float64, k)}
	// The Gram matrix has the covariance's trace too: both are the sum of
	// the squared centred values over n-1.
	for j := range size {
		res.totalVariance += m.At(j, j)
	}
	for c := range k {
		// Rounding can leave a zero eigenvalue slightly negative.
		res.variances[c] = math.Max(values[size-1-c], 0)
	}
	if m.gram == nil {
		for c := range k {
			comp := res.components[c*d : (c+1)*d]
			for j := range d {
				comp[j] = vecs.At(j, size-1-c)
			}
		}
	} else {
		m.gram.components(&vecs, k, res.components)
	}
	for c := range k {
		comp := res.components[c*d : (c+1)*d]
		best := 0
		for j := range d {
			if math.Abs(comp[j]) > math.Abs(comp[best]) {
				best = j
			}
		}
		if comp[best] < 0 {
			for j := range comp {
				comp[j] = -comp[j]
			}
		}
	}
	return res, nil
}

// nullNorm: a mapped-back component shorter than this fraction of the
// first one has a (numerically) zero eigenvalue, below 1e-14 of the
// largest: the eigensolver's rounding, so its direction is noise.
const nullNorm = 1e-7

// components writes the k leading unit eigenvectors of the covariance into
// out (k x D, row-major): Xc^T u for the top k eigenvectors u of the Gram
// matrix (the last columns of vecs), normalised and orthogonalised in
// order; those of a zero eigenvalue are completed (see the top of the
// file).
func (f *fitRows) components(vecs *mat.Dense, k int, out []float64) {
	n, d := f.count, f.d
	u := blas64.General{Rows: n, Cols: k, Stride: k, Data: make([]float64, n*k)}
	for i := range n {
		for c := range k {
			u.Data[i*k+c] = vecs.At(i, n-1-c)
		}
	}
	w := f.bandWidth()
	buf := make([]float64, n*w)
	part := make([]float64, k*w)
	for lo := 0; lo < d; lo += w {
		hi := min(lo+w, d)
		a := f.band(buf, lo, hi)
		p := blas64.General{Rows: k, Cols: hi - lo, Stride: hi - lo, Data: part[:k*(hi-lo)]}
		blas64.Gemm(blas.Trans, blas.NoTrans, 1, u, a, 0, p)
		for c := range k {
			copy(out[c*d+lo:c*d+hi], p.Data[c*(hi-lo):(c+1)*(hi-lo)])
		}
	}
	var first float64
	for c := range k {
		v := blas64.Vector{N: d, Inc: 1, Data: out[c*d : (c+1)*d]}
		if c == 0 {
			first = blas64.Nrm2(v)
		}
		orthogonalize(out, c, d)
		norm := blas64.Nrm2(v)
		if !(norm > nullNorm*first) {
			completeBasis(out, c, d)
			continue
		}
		blas64.Scal(1/norm, v)
	}
}

// orthogonalize subtracts from row c of comps (rows of d values) its
// projections on rows 0..c-1, which are orthonormal.
func orthogonalize(comps []float64, c, d int) {
	v := blas64.Vector{N: d, Inc: 1, Data: comps[c*d : (c+1)*d]}
	for p := range c {
		q := blas64.Vector{N: d, Inc: 1, Data: comps[p*d : (p+1)*d]}
		blas64.Axpy(-blas64.Dot(q, v), q, v)
	}
}

// completeBasis sets row c of comps to a unit vector orthogonal to rows
// 0..c-1: the unit axis e_j farthest from their span (the first on ties),
// orthogonalised. Some axis is at least sqrt((d-c)/d) from it.
func completeBasis(comps []float64, c, d int) {
	best, bestRest := 0, -1.0
	for j := range d {
		rest := 1.0
		for p := range c {
			rest -= comps[p*d+j] * comps[p*d+j]
		}
		if rest > bestRest {
			best, bestRest = j, rest
		}
	}
	row := comps[c*d : (c+1)*d]
	clear(row)
	row[best] = 1
	for range 2 { // twice is enough for orthogonality to rounding
		orthogonalize(comps, c, d)
	}
	v := blas64.Vector{N: d, Inc: 1, Data: row}
	blas64.Scal(1/blas64.Nrm2(v), v)
}
