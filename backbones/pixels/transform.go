package main

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// unit[v] is v/255 correctly rounded to float32: the raw pixel embedding is
// exactly what numpy's (x / 255).astype(float32) gives.
var unit = func() (t [256]float32) {
	for v := range t {
		t[v] = float32(float64(v) / 255)
	}
	return t
}()

// transform maps images to embeddings:
//
//	c = pixels/255 - mean                     (mean nil: no centring)
//	z = proj · c                              (proj nil: z = c)
//	z_j = z_j * scale_j                       (only when proj is nil and scale is set)
//
// Whitening (1/sqrt(eigenvalue)) and standardisation (1/std) are folded into
// the rows of proj when there is a projection, so Embed is one float32
// matrix product per batch.
type transform struct {
	inDim, outDim int
	mean          []float32 // inDim, or nil
	proj          []float32 // outDim x inDim, row-major, or nil
	scale         []float32 // outDim, or nil; used only without proj
}

// apply embeds n images of px (n*inDim bytes) into out (n*outDim values).
// buf is scratch space of at least n*inDim values when proj is set.
func (t *transform) apply(px []uint8, n int, out, buf []float32) {
	d := t.inDim
	center := func(dst []float32) {
		for i, v := range px[:n*d] {
			x := unit[v]
			if t.mean != nil {
				x -= t.mean[i%d]
			}
			dst[i] = x
		}
	}
	if t.proj == nil {
		center(out[:n*d])
		if t.scale != nil {
			for i := range out[:n*d] {
				out[i] *= t.scale[i%d]
			}
		}
		return
	}
	x := buf[:n*d]
	center(x)
	// out [n, k] = x [n, d] · projᵀ [d, k]; gonum's Sgemm splits large
	// products across cores itself.
	blas32.Gemm(blas.NoTrans, blas.Trans, 1,
		blas32.General{Rows: n, Cols: d, Stride: d, Data: x},
		blas32.General{Rows: t.outDim, Cols: d, Stride: d, Data: t.proj},
		0, blas32.General{Rows: n, Cols: t.outDim, Stride: t.outDim, Data: out[:n*t.outDim]})
}

// newTransform builds the transform of a fitted state. std may be nil (no
// standardisation); components nil means no PCA; variances are used only
// when whiten is set.
func newTransform(inDim int, mean, components, variances, std []float32, whiten bool) *transform {
	t := &transform{inDim: inDim, outDim: inDim, mean: mean}
	if components == nil {
		if std != nil {
			t.scale = make([]float32, inDim)
			for j, s := range std {
				t.scale[j] = 1 / s
			}
		}
		return t
	}
	k := len(components) / inDim
	t.outDim = k
	t.proj = make([]float32, len(components))
	for c := range k {
		f := float64(1)
		if whiten {
			f /= math.Sqrt(float64(variances[c]))
		}
		if std != nil {
			f /= float64(std[c])
		}
		row := components[c*inDim : (c+1)*inDim]
		dst := t.proj[c*inDim : (c+1)*inDim]
		for j, v := range row {
			dst[j] = float32(float64(v) * f)
		}
	}
	return t
}
