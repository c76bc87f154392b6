package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/clusterlab/clusterlab/core/metrics"
	"github.com/clusterlab/clusterlab/core/metrics/silhouette"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
)

// scorer scores the assignments of a run's splits: the label metrics
// against each split's labels (samples without a label left out), the
// cluster statistics over every sample, and the silhouette, a label-free
// quality index, on a seeded sample of at most rundir.SilhouetteRows rows
// of the split's L2-normalised embeddings. Each split's distances are
// computed once, when first needed, and serve every method and head, so
// all of them are scored on the same rows.
type scorer struct {
	ctx  context.Context
	data embedded
	seed int64
	// silhouettes is false to leave the silhouette out (NaN).
	silhouettes bool
	samples     map[string]*silhouetteSample
	seconds     float64 // spent on distances and silhouettes
}

// silhouetteSample is the sampled rows of one split and their distances.
type silhouetteSample struct {
	rows []int
	dist *silhouette.Distances
}

func newScorer(ctx context.Context, data embedded, seed int64) *scorer {
	return &scorer{ctx: ctx, data: data, seed: seed, silhouettes: true, samples: map[string]*silhouetteSample{}}
}

// score computes the result of one assignment (pred, one cluster per
// sample) of a split.
func (s *scorer) score(method, selection, split string, pred []int32) (rundir.Result, error) {
	sc, majority, err := metrics.ScoreKnown(toInts(s.data.Labels[split]), toInts(pred))
	if err != nil {
		return rundir.Result{}, err
	}
	sil, err := s.silhouette(split, pred)
	if err != nil {
		return rundir.Result{}, err
	}
	return rundir.Result{Method: method, Selection: selection, Split: split, Scores: sc, MajorityACC: majority, Silhouette: sil, Generalization: math.NaN()}, nil
}

// silhouette is the silhouette of pred on the split's sample.
func (s *scorer) silhouette(split string, pred []int32) (float64, error) {
	if !s.silhouettes {
		return math.NaN(), nil
	}
	t0 := time.Now()
	defer func() { s.seconds += time.Since(t0).Seconds() }()
	sm, ok := s.samples[split]
	if !ok {
		var err error
		if sm, err = s.sample(split); err != nil {
			return math.NaN(), err
		}
		s.samples[split] = sm
	}
	p := make([]int, len(sm.rows))
	for i, r := range sm.rows {
		p[i] = int(pred[r])
	}
	return sm.dist.Silhouette(p)
}

// sample draws the split's rows (seeded by the run's seed and the split,
// so a rerun scores the same rows), L2-normalises their embeddings and
// computes their distances.
func (s *scorer) sample(split string) (*silhouetteSample, error) {
	sd, ok := s.data.Splits[split]
	if !ok {
		return nil, fmt.Errorf("silhouette: no embeddings of split %s", split)
	}
	x, shape, unmap, err := npy.MapFloat32(sd.Embeddings)
	if err != nil {
		return nil, err
	}
	defer unmap()
	n, d := shape[0], shape[1]
	seed := uint64(s.seed)
	for _, c := range split { // another sample per split
		seed = seed*31 + uint64(c)
	}
	rows := silhouette.SilhouetteSample(n, rundir.SilhouetteRows, seed)
	xs := make([]float64, len(rows)*d)
	for i, r := range rows {
		row, out := x[r*d:(r+1)*d], xs[i*d:(i+1)*d]
		var ss float64
		for j, v := range row {
			out[j] = float64(v)
			ss += float64(v) * float64(v)
		}
		// The geometry of the k-NN graph and of the heads' l2_norm input.
		norm := max(math.Sqrt(ss), 1e-12)
		for j := range out {
			out[j] /= norm
		}
	}
	dist, err := silhouette.EuclideanDistances(s.ctx, xs, len(rows), d)
	if err != nil {
		return nil, fmt.Errorf("silhouette of split %s: %w", split, err)
	}
	return &silhouetteSample{rows: rows, dist: dist}, nil
}
