package main

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/store"
)

// spaceSplits is one representation space's embeddings of every split.
type spaceSplits struct {
	Name   string
	Splits map[string]splitData
}

// embedSpaces computes or finds in the store the embeddings of every split
// in each of spaces, launching one backbone plugin at a time beside the
// dataset plugin of pl.
func embedSpaces(ctx context.Context, st *store.Store, p *trialPlan, spaces []plannedSpace, pl *launched, log trialLog) ([]spaceSplits, error) {
	dsRef := pluginRef{Name: p.dsInfo.Name, Identity: p.dsInfo.Identity, Options: p.ds.resolved}
	var out []spaceSplits
	for _, sp := range spaces {
		bb, err := launch(ctx, core.KindBackbone, sp.bb)
		if err != nil {
			return nil, err
		}
		pl.bb = bb
		bbRef := pluginRef{Name: sp.info.Name, Identity: sp.info.Identity, Options: sp.bb.resolved}
		slog := log
		if p.several() {
			slog.prefix += sp.name + ": "
		}
		splits, err := embedAll(ctx, st, pl.ds.Dataset(), p.dsInfo, dsRef, bb.Backbone(), sp.info, bbRef, slog)
		pl.killBackbone()
		if err != nil {
			if p.several() {
				return nil, fmt.Errorf("space %s: %w", sp.name, err)
			}
			return nil, err
		}
		out = append(out, spaceSplits{Name: sp.name, Splits: splits})
	}
	return out, nil
}

// concatSpaces gives, for every split, the concatenation of the spaces'
// embeddings after L2-normalising each space's rows, the features every
// method but TURTLE uses in a run of several spaces (docs/DECISIONS.md:
// each space weighs alike whatever its scale and dimension). The result is
// a store entry keyed by the spaces' names and the checksums of their
// embeddings; labels and names are those of the first space (the same
// dataset read gives them all).
func concatSpaces(ctx context.Context, st *store.Store, spaces []spaceSplits, log trialLog) (map[string]splitData, error) {
	names := make([]string, 0, len(spaces))
	for _, s := range spaces {
		names = append(names, s.Name)
	}
	out := map[string]splitData{}
	for split, first := range spaces[0].Splits {
		parts := []string{"concat-l2", split}
		dims := 0
		var ins []splitData
		for _, s := range spaces {
			sd, ok := s.Splits[split]
			if !ok || sd.N != first.N {
				return nil, fmt.Errorf("space %s has no split %s of %d rows like space %s; the spaces must embed the same images", s.Name, split, first.N, spaces[0].Name)
			}
			parts = append(parts, s.Name, sd.SHA256)
			dims += sd.D
			ins = append(ins, sd)
		}
		e := st.Entry("embeddings", store.Hash(parts...))
		sd := splitData{Split: split, Embeddings: e.Path("embeddings"), Labels: first.Labels, Names: first.Names, N: first.N, D: dims, Cached: true}
		meta, err := withEntry(ctx, e, log.Logf, func() (map[string]string, []string, error) {
			sd.Cached = false
			if err := store.CheckFree(e.Dir, uint64(first.N)*uint64(dims)*4, fmt.Sprintf("the %d x %d concatenated embeddings of split %s", first.N, dims, split)); err != nil {
				return nil, nil, err
			}
			if err := writeConcat(ctx, e.Path("embeddings"), ins); err != nil {
				return nil, nil, fmt.Errorf("concatenate the spaces %s of split %s: %w", strings.Join(names, ", "), split, err)
			}
			return map[string]string{"split": split, "spaces": strings.Join(names, ","), "normalisation": "l2 per space"}, []string{"embeddings"}, nil
		})
		if err != nil {
			return nil, err
		}
		sd.SHA256 = meta.Arrays["embeddings"].SHA256
		if sd.Cached {
			log.Logf("embeddings of %s, spaces %s concatenated: cached (%s)", split, strings.Join(names, "+"), e.Dir)
		}
		out[split] = sd
	}
	return out, nil
}

// writeConcat streams the L2-normalised, concatenated rows of ins to path,
// a block of rows at a time. A zero row stays zero.
func writeConcat(ctx context.Context, path string, ins []splitData) error {
	n, dims := ins[0].N, 0
	srcs := make([][]float32, len(ins))
	for i, sd := range ins {
		x, shape, unmap, err := npy.MapFloat32(sd.Embeddings)
		if err != nil {
			return err
		}
		defer unmap()
		if len(shape) != 2 || shape[0] != n || shape[1] != sd.D {
			return fmt.Errorf("%s has shape %v, want [%d %d]", sd.Embeddings, shape, n, sd.D)
		}
		srcs[i] = x
		dims += sd.D
	}
	w, err := npy.CreateFloat32Rows(path, n, dims)
	if err != nil {
		return err
	}
	defer w.Abort()
	block := max(1, (1<<22)/(4*dims))
	buf := make([]float32, 0, block*dims)
	for r0 := 0; r0 < n; r0 += block {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf = buf[:0]
		for r := r0; r < min(n, r0+block); r++ {
			for i, sd := range ins {
				row := srcs[i][r*sd.D : (r+1)*sd.D]
				buf = appendL2(buf, row)
			}
		}
		if err := w.Append(buf); err != nil {
			return err
		}
	}
	return w.Commit()
}

// appendL2 appends row divided by its Euclidean norm (summed in float64).
func appendL2(dst, row []float32) []float32 {
	var ss float64
	for _, v := range row {
		ss += float64(v) * float64(v)
	}
	if ss == 0 {
		return append(dst, row...)
	}
	inv := 1 / math.Sqrt(ss)
	for _, v := range row {
		dst = append(dst, float32(float64(v)*inv))
	}
	return dst
}
