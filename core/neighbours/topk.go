package neighbours

import "math"

// A heap is one query row's k best (similarity, index) pairs so far, kept
// as a binary min-heap directly in that row's slices of the output arrays
// (vals and ids, each of length k), so that the search needs no memory
// beyond its result. A fresh heap holds k sentinels (-Inf, -1); every
// similarity is finite, so a row that is offered at least k candidates
// ends with none left. vals[0] is the k-th best so far: the threshold a
// candidate must beat, which costs one comparison in the common case.

// heapInit fills a row's heap with sentinels.
func heapInit(vals []float32, ids []int32) {
	for i := range vals {
		vals[i] = float32(math.Inf(-1))
		ids[i] = -1
	}
}

// heapPush offers (v, id) to a full heap and returns the new threshold.
// Callers skip values <= vals[0] themselves; heapPush checks again so that
// it is correct on its own.
func heapPush(vals []float32, ids []int32, v float32, id int32) float32 {
	if v <= vals[0] {
		return vals[0]
	}
	vals[0], ids[0] = v, id
	siftDown(vals, ids, 0, len(vals))
	return vals[0]
}

func siftDown(vals []float32, ids []int32, i, n int) {
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && vals[r] < vals[l] {
			m = r
		}
		if vals[i] <= vals[m] {
			return
		}
		vals[i], vals[m] = vals[m], vals[i]
		ids[i], ids[m] = ids[m], ids[i]
		i = m
	}
}

// heapScan offers row[j] with index base+j for every j except the index
// skip (the query itself; -1 for none) and returns the new threshold.
func heapScan(vals []float32, ids []int32, row []float32, base, skip int) float32 {
	thr := vals[0]
	for j, v := range row {
		if v <= thr || base+j == skip {
			continue
		}
		thr = heapPush(vals, ids, v, int32(base+j))
	}
	return thr
}

// heapSort turns a heap into the final answer: values in decreasing order
// (heap-sort in place: the minimum goes to the end each time).
func heapSort(vals []float32, ids []int32) {
	for end := len(vals) - 1; end > 0; end-- {
		vals[0], vals[end] = vals[end], vals[0]
		ids[0], ids[end] = ids[end], ids[0]
		siftDown(vals, ids, 0, end)
	}
}
