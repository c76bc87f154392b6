package testblobs

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"
)

// The tests that use these draws were written against generators of
// their own (losses/losstest, core/train, core/baselines); the digests are
// of what those drew, so that the draws stay bit for bit the same.

// digest is FNV-64a of the values' bits (little-endian) then the labels
// (a byte each).
func digest(x []float32, y []int) uint64 {
	h := fnv.New64a()
	for _, v := range x {
		u := math.Float32bits(v)
		h.Write([]byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)})
	}
	for _, l := range y {
		h.Write([]byte{byte(l)})
	}
	return h.Sum64()
}

// Draw on Separated centres: losstest.CheckFit (the first draw of 512, 16,
// 4) and core/train's makeBlobs (n train then n/4 test points).
func TestSeparatedDraws(t *testing.T) {
	for _, c := range []struct {
		n, d, classes int
		train, test   uint64
	}{
		{512, 16, 4, 0x3d2c128cc9fc2643, 0x412534f470f192d2},
		{256, 8, 4, 0x9731129bd5e0bf10, 0xbe1ef4a5e1b234f},
		{128, 8, 2, 0xe7fa259304fb13d2, 0x57ca5d31b86a09b1},
		{64, 4, 2, 0xe5398cb07d0617a2, 0xab2440eb59e1f71d},
	} {
		b := Blobs{Centres: Separated(c.classes, c.d), Noise: 0.6, R: rand.New(rand.NewPCG(21, 21))}
		if got := digest(b.Draw(c.n)); got != c.train {
			t.Errorf("%d x %d, %d classes: draw %#x, was %#x", c.n, c.d, c.classes, got, c.train)
		}
		if got := digest(b.Draw(c.n / 4)); got != c.test {
			t.Errorf("%d x %d, %d classes: second draw %#x, was %#x", c.n, c.d, c.classes, got, c.test)
		}
	}
}

// Interleaved in float32: core/baselines' k-means tests.
func TestInterleavedDraws(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	b := Blobs{Centres: [][]float64{{0, 0, 0, 0, 0}, {20, 0, 0, 0, 0}, {0, 20, 0, 5, 0}, {0, 0, 20, 0, -5}, {10, 10, 10, 10, 10}},
		Noise: 1, R: rng, Float32: true}
	if got := digest(b.Interleaved(80)); got != 0x4faca4bd90f5f7ca {
		t.Errorf("fixed centres: %#x", got)
	}

	rng = rand.New(rand.NewPCG(4, 4))
	var centres [][]float64
	for range 6 {
		c := make([]float64, 8)
		for j := range c {
			c[j] = 3 * rng.NormFloat64()
		}
		centres = append(centres, c)
	}
	if got := digest(Blobs{Centres: centres, Noise: 1.5, R: rng, Float32: true}.Interleaved(100)); got != 0x808538fd3f304796 {
		t.Errorf("random centres: %#x", got)
	}

	b = Blobs{Centres: [][]float64{{0, 0, 0}, {15, 0, 0}, {0, 15, 0}, {0, 0, 15}}, Noise: 1, R: rand.New(rand.NewPCG(7, 7)), Float32: true}
	if got := digest(b.Interleaved(60)); got != 0xd8b68b379fa820f6 {
		t.Errorf("two draws: first %#x", got)
	}
	if got := digest(b.Interleaved(25)); got != 0x1a869f393eb1fe27 {
		t.Errorf("two draws: second %#x", got)
	}
}

func TestSeparated(t *testing.T) {
	c := Separated(4, 16)
	if c[1][1] != 5 || c[1][5] != 2 || c[3][3] != 5 || c[3][7] != 2 {
		t.Errorf("Separated(4, 16) = %v", c)
	}
	// Coinciding coordinates: 5 wins.
	if c := Separated(2, 2); c[0][0] != 5 || c[0][1] != 0 || c[1][1] != 5 {
		t.Errorf("Separated(2, 2) = %v", c)
	}
}
