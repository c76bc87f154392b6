package baselines

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/internal/testblobs"
)

// mixture draws n rows around 10 random centres with enough noise that
// Lloyd needs a realistic number of iterations.
func mixture(n, d int) []float32 {
	rng := rand.New(rand.NewPCG(21, uint64(d)))
	x, _ := testblobs.Blobs{Centres: testblobs.Random(rng, 10, d, 1), Noise: 0.7, R: rng, Float32: true}.Draw(n)
	return x
}

func benchKMeans(b *testing.B, n, d, k int) {
	if testing.Short() {
		b.Skip("full-size k-means benchmark skipped under -short")
	}
	o, err := backend.Open("auto")
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("backend %s (%s)", o.Name, o.Why)
	x := mixture(n, d)
	b.ResetTimer()
	for b.Loop() {
		iters := 0
		res, err := KMeans(context.Background(), o.Backend, x, n, d, k, KMeansOptions{NInit: 10, Seed: 1,
			Progress: func(KMeansProgress) { iters++ }})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(iters), "lloyd-iters/op")
		b.ReportMetric(float64(res.Iters), "best-run-iters")
	}
}

func BenchmarkKMeans60000x64(b *testing.B)  { benchKMeans(b, 60000, 64, 10) }
func BenchmarkKMeans60000x784(b *testing.B) { benchKMeans(b, 60000, 784, 10) }
