package train

import (
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
)

// matrix is a row-major float32 matrix.
type matrix struct {
	Data       []float32
	Rows, Cols int
}

// ReadEmbeddings reads an [N, D] float .npy file of embeddings as float32,
// checks that every value is finite and returns it with the CRC-32C of its
// data bytes (for checkpoint keys), for a loss with its own loop as for
// the shared trainer. A bad file is invalid input (core.ErrInvalidInput);
// what names the embeddings in messages ("train", "test clip").
func ReadEmbeddings(path, what string) (data []float32, rows, cols int, crc uint32, err error) {
	h, raw, err := npy.ReadFile(path)
	if err != nil {
		return nil, 0, 0, 0, fmt.Errorf("read the %s embeddings: %w", what, err)
	}
	if len(h.Shape) != 2 || h.Shape[0] < 1 || h.Shape[1] < 1 {
		return nil, 0, 0, 0, core.InvalidInput(fmt.Errorf("the %s embeddings %s have shape %v; want [N, D] with N, D >= 1", what, path, h.Shape))
	}
	if data, err = npy.ToFloat32(h, raw); err != nil {
		return nil, 0, 0, 0, core.InvalidInput(fmt.Errorf("the %s embeddings %s: %w", what, path, err))
	}
	rows, cols = h.Shape[0], h.Shape[1]
	for i, v := range data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, 0, 0, 0, core.InvalidInput(fmt.Errorf("the %s embeddings %s: value %v at row %d, column %d is not finite; recompute the embeddings", what, path, v, i/cols, i%cols))
		}
	}
	return data, rows, cols, crc32.Checksum(raw, crc32.MakeTable(crc32.Castagnoli)), nil
}

// readEmbeddings is ReadEmbeddings as the trainer's matrix.
func readEmbeddings(path, what string) (matrix, uint32, error) {
	data, rows, cols, crc, err := ReadEmbeddings(path, what)
	return matrix{Data: data, Rows: rows, Cols: cols}, crc, err
}

// neighbours is the train k-NN graph [N, k], most similar first.
type neighbours struct {
	Idx  []int32
	N, K int
	CRC  uint32
}

func readNeighbours(path string, n int) (neighbours, error) {
	idx, shape, err := npy.ReadInt32(path)
	if err != nil {
		return neighbours{}, fmt.Errorf("read neighbours: %w", err)
	}
	if len(shape) != 2 || shape[0] != n || shape[1] < 1 {
		return neighbours{}, fmt.Errorf("neighbours %s have shape %v; want [%d, k] for the %d train embeddings; recompute the k-NN graph", path, shape, n, n)
	}
	for i, j := range idx {
		if j < 0 || int(j) >= n {
			return neighbours{}, fmt.Errorf("neighbours %s: index %d at row %d is outside [0, %d); recompute the k-NN graph", path, j, i/shape[1], n)
		}
	}
	b := make([]byte, 4*len(idx))
	for i, j := range idx {
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(j), byte(j>>8), byte(j>>16), byte(j>>24)
	}
	return neighbours{Idx: idx, N: shape[0], K: shape[1], CRC: crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))}, nil
}

// normaliser is the optional input normalisation of docs/TEMI.md section 2,
// as the authors apply it: (x - mean) / std with the train statistics
// (torch's unbiased std), then x / ||x||.
type normaliser struct {
	mean, std []float32 // nil without embed_norm
	l2        bool
}

func newNormaliser(train matrix, embedNorm, l2 bool) normaliser {
	nz := normaliser{l2: l2}
	if !embedNorm {
		return nz
	}
	d := train.Cols
	sum := make([]float64, d)
	for i := range train.Rows {
		for j, v := range train.Data[i*d : (i+1)*d] {
			sum[j] += float64(v)
		}
	}
	nz.mean = make([]float32, d)
	nz.std = make([]float32, d)
	ss := make([]float64, d)
	for j := range sum {
		sum[j] /= float64(train.Rows)
		nz.mean[j] = float32(sum[j])
	}
	for i := range train.Rows {
		for j, v := range train.Data[i*d : (i+1)*d] {
			dv := float64(v) - sum[j]
			ss[j] += dv * dv
		}
	}
	for j := range ss {
		s := 1.0
		if train.Rows > 1 {
			s = math.Sqrt(ss[j] / float64(train.Rows-1))
		}
		if s == 0 {
			// A constant dimension (e.g. a border pixel) would divide by
			// zero in the authors' code; leave it centred instead.
			s = 1
		}
		nz.std[j] = float32(s)
	}
	return nz
}

// apply normalises m in place.
func (nz normaliser) apply(m matrix) {
	d := m.Cols
	for i := range m.Rows {
		row := m.Data[i*d : (i+1)*d]
		if nz.mean != nil {
			for j := range row {
				row[j] = (row[j] - nz.mean[j]) / nz.std[j]
			}
		}
		if nz.l2 {
			var s float64
			for _, v := range row {
				s += float64(v) * float64(v)
			}
			norm := float32(max(math.Sqrt(s), 1e-12))
			for j := range row {
				row[j] /= norm
			}
		}
	}
}

// epochRows returns the row indices of every step of one epoch (0-based):
// the train indices shuffled and cut into batches of `batch` (the last
// incomplete batch dropped); each step's vector holds the B anchors, then
// for each anchor one partner drawn uniformly from its first knn
// neighbours. The generator is derived from (seed, epoch) alone, so a
// resumed run draws exactly the pairs an uninterrupted run draws.
func epochRows(seed int64, epoch int, nb neighbours, knn, batch int) [][]int32 {
	rng := rand.New(rand.NewPCG(uint64(seed), streamPairs+uint64(epoch)))
	perm := rng.Perm(nb.N)
	steps := nb.N / batch
	out := make([][]int32, steps)
	for s := range out {
		rows := make([]int32, 2*batch)
		for b := range batch {
			i := perm[s*batch+b]
			rows[b] = int32(i)
			rows[batch+b] = nb.Idx[i*nb.K+rng.IntN(knn)]
		}
		out[s] = rows
	}
	return out
}
