// Package testblobs draws points from Gaussian blobs, the test data of
// k-means, the trainer and the losses' conformance suite.
package testblobs

import "math/rand/v2"

// Blobs draws points around Centres with Gaussian noise of standard
// deviation Noise in every coordinate, from the random numbers of R. A
// point of class c costs (in this order) the draw of its class, when Draw
// picks it, and one NormFloat64 per coordinate; a coordinate is
// float32(centre + Noise*NormFloat64()), computed in float64.
type Blobs struct {
	Centres [][]float64
	Noise   float64
	R       *rand.Rand
	// Float32 adds the noise to the centre in float32 instead:
	// float32(centre) + float32(Noise*NormFloat64()) (the k-means tests'
	// draw, kept bit for bit).
	Float32 bool
}

// Separated returns the centres of `classes` blobs in d dimensions that are
// far apart in angle too: the centre of class c is 5 in coordinate c%d and
// 2 in coordinate (c+classes)%d (just 5 when the two coincide), 0
// elsewhere.
func Separated(classes, d int) [][]float64 {
	centres := make([][]float64, classes)
	for c := range centres {
		centres[c] = make([]float64, d)
		centres[c][(c+classes)%d] = 2
		centres[c][c%d] = 5
	}
	return centres
}

// Random returns k centres in d dimensions with coordinates sd*NormFloat64()
// from r, drawn centre after centre.
func Random(r *rand.Rand, k, d int, sd float64) [][]float64 {
	centres := make([][]float64, k)
	for c := range centres {
		centres[c] = make([]float64, d)
		for j := range d {
			centres[c][j] = sd * r.NormFloat64()
		}
	}
	return centres
}

// Draw draws n points, the class of each uniformly at random.
func (b Blobs) Draw(n int) ([]float32, []int) {
	x, labels := b.alloc(n)
	for i := range n {
		labels[i] = b.R.IntN(len(b.Centres))
		b.point(x, i, labels[i])
	}
	return x, labels
}

// Interleaved draws perClass points of each class, the classes in turn
// (0, 1, ..., k-1, 0, 1, ...).
func (b Blobs) Interleaved(perClass int) ([]float32, []int) {
	k := len(b.Centres)
	x, labels := b.alloc(perClass * k)
	for i := range labels {
		labels[i] = i % k
		b.point(x, i, labels[i])
	}
	return x, labels
}

func (b Blobs) alloc(n int) ([]float32, []int) {
	return make([]float32, n*len(b.Centres[0])), make([]int, n)
}

// point draws row i of x around the centre of class c.
func (b Blobs) point(x []float32, i, c int) {
	centre := b.Centres[c]
	d := len(centre)
	for j := range d {
		if b.Float32 {
			x[i*d+j] = float32(centre[j]) + float32(b.Noise*b.R.NormFloat64())
		} else {
			x[i*d+j] = float32(centre[j] + b.Noise*b.R.NormFloat64())
		}
	}
}
