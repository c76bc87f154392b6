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
)

// PCA, exactly:
//
//  1. x = pixels/255 (float64), one row of D = H*W*C values per image.
//  2. mean = the average of x over the fit images (the whole train split,
//     or a seeded uniform subset of pca_fit_samples of them).
//  3. cov = (X-mean)^T (X-mean) / (n-1), the sample covariance (ddof=1, as
//     numpy.cov and sklearn), accumulated in float64: the centred rows are
//     taken in chunks of chunkRows, transposed, and added with the BLAS
//     rank-k update blas64.Syrk (upper triangle) into covPartitions
//     partial sums that are added in a fixed order, so the result does not
//     depend on the number of cores.
//  4. gonum mat.EigenSym of cov; the pca_dims largest eigenvalues, sorted in
//     decreasing order, are the explained variances and their unit
//     eigenvectors the components.
//  5. The sign of each component is fixed as sklearn's svd_flip does for
//     its components: the entry of largest absolute value is positive (the
//     first such entry on ties).

const (
	// chunkRows centred images are converted per Syrk call: 784 x 512
	// float64 is 3 MiB, which measured fastest on MNIST (the NoTrans update
	// is a series of contiguous dot products).
	chunkRows = 512
	// covPartitions partial covariances are accumulated concurrently.
	covPartitions = 4
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

// covariance returns the sample covariance (ddof=1) of px/255 over the
// selected rows (nil: all n) around mean, as a D x D symmetric matrix.
func covariance(ctx context.Context, px []uint8, d, n int, rows []int, mean []float64) (*mat.SymDense, error) {
	count := n
	if rows != nil {
		count = len(rows)
	}
	if count < 2 {
		return nil, fmt.Errorf("PCA needs at least 2 images, got %d", count)
	}
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

// topComponents returns the k leading eigenpairs of cov, sign-fixed.
func topComponents(cov *mat.SymDense, k int) (pcaResult, error) {
	d := cov.SymmetricDim()
	if k < 1 || k > d {
		return pcaResult{}, fmt.Errorf("pca_dims=%d: must be between 1 and the %d values per image", k, d)
	}
	var es mat.EigenSym
	if !es.Factorize(cov, true) {
		return pcaResult{}, fmt.Errorf("PCA: the eigen-decomposition of the %dx%d covariance did not converge", d, d)
	}
	values := es.Values(nil) // ascending
	var vecs mat.Dense
	es.VectorsTo(&vecs)
	res := pcaResult{components: make([]float64, k*d), variances: make([]float64, k)}
	for j := range d {
		res.totalVariance += cov.At(j, j)
	}
	for c := range k {
		src := d - 1 - c
		// Rounding can leave a zero eigenvalue slightly negative.
		res.variances[c] = math.Max(values[src], 0)
		comp := res.components[c*d : (c+1)*d]
		best := 0
		for j := range d {
			comp[j] = vecs.At(j, src)
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
