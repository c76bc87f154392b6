package neighbours

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/internal/testblobs"
)

// mixture draws n rows around 100 random centres, roughly how image
// features cluster, so that the heaps see realistic update rates.
func mixture(n, d int) []float32 {
	rng := rand.New(rand.NewPCG(11, uint64(d)))
	x, _ := testblobs.Blobs{Centres: testblobs.Random(rng, 100, d, 1), Noise: 0.8, R: rng, Float32: true}.Draw(n)
	return x
}

func benchKNN(b *testing.B, n, d, k int) {
	if testing.Short() {
		b.Skip("full-size k-NN benchmark skipped under -short")
	}
	o, err := backend.Open("auto")
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("backend %s (%s)", o.Name, o.Why)
	x := mixture(n, d)
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := KNN(context.Background(), o.Backend, x, n, d, k, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKNN60000x64(b *testing.B)  { benchKNN(b, 60000, 64, 50) }
func BenchmarkKNN60000x784(b *testing.B) { benchKNN(b, 60000, 784, 50) }
