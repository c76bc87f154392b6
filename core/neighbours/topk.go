package neighbours

import "math"

// topK keeps the k largest (value, index) pairs pushed into it in a binary
// min-heap, so that the common case (a value below the current k-th best)
// costs one comparison against thr.
type topK struct {
	k    int
	vals []float32
	ids  []int32
	// thr is the smallest kept value once k are kept, -Inf before.
	thr float32
}

func newTopK(k int) *topK {
	return &topK{k: k, vals: make([]float32, 0, k), ids: make([]int32, 0, k), thr: float32(math.Inf(-1))}
}

func (h *topK) reset() {
	h.vals, h.ids = h.vals[:0], h.ids[:0]
	h.thr = float32(math.Inf(-1))
}

// push offers one pair; callers may skip values <= h.thr themselves.
func (h *topK) push(v float32, id int32) {
	if len(h.vals) < h.k {
		h.vals = append(h.vals, v)
		h.ids = append(h.ids, id)
		// Sift up.
		i := len(h.vals) - 1
		for i > 0 {
			p := (i - 1) / 2
			if h.vals[p] <= h.vals[i] {
				break
			}
			h.vals[p], h.vals[i] = h.vals[i], h.vals[p]
			h.ids[p], h.ids[i] = h.ids[i], h.ids[p]
			i = p
		}
		if len(h.vals) == h.k {
			h.thr = h.vals[0]
		}
		return
	}
	if v <= h.vals[0] {
		return
	}
	h.vals[0], h.ids[0] = v, id
	h.siftDown(0, h.k)
	h.thr = h.vals[0]
}

func (h *topK) siftDown(i, n int) {
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.vals[r] < h.vals[l] {
			m = r
		}
		if h.vals[i] <= h.vals[m] {
			return
		}
		h.vals[i], h.vals[m] = h.vals[m], h.vals[i]
		h.ids[i], h.ids[m] = h.ids[m], h.ids[i]
		i = m
	}
}

// scan pushes row[j] with index base+j for every j, except the index skip
// (the query itself; -1 for none).
func (h *topK) scan(row []float32, base, skip int) {
	for j, v := range row {
		if v <= h.thr || base+j == skip {
			continue
		}
		h.push(v, int32(base+j))
	}
}

// drain writes the kept pairs in decreasing value order into vals and ids
// (each of length k) and empties the heap. Heap-sort in place: the minimum
// goes to the end each time.
func (h *topK) drain(vals []float32, ids []int32) {
	n := len(h.vals)
	for end := n - 1; end > 0; end-- {
		h.vals[0], h.vals[end] = h.vals[end], h.vals[0]
		h.ids[0], h.ids[end] = h.ids[end], h.ids[0]
		h.siftDown(0, end)
	}
	copy(vals, h.vals)
	copy(ids, h.ids)
	h.reset()
}
