package tbevents

import (
	"math"
)

// DefaultHistogramBuckets is the number of equal-width buckets of
// Writer.Histogram unless HistogramBuckets says otherwise; it is
// TensorBoard's own default bucket count (tf.summary.histogram).
const DefaultHistogramBuckets = 30

// Histogram is a HistogramProto: summary statistics and bucket counts.
// Bucket i counts the values between BucketLimit[i-1] and BucketLimit[i]
// (bucket 0: below BucketLimit[0]), as histogram.proto defines them.
type Histogram struct {
	Min, Max, Num, Sum, SumSquares float64
	BucketLimit, Bucket            []float64
}

// makeHistogram buckets the finite values into n equal-width buckets over
// [min, max], as TensorBoard's own histogram summary does (value v goes to
// bucket floor((v-min)/width), the last bucket closed). It encodes them as
// tensorboardX does for equal-width bins: BucketLimit holds the n+1 edges
// and Bucket starts with an empty bucket for "below the first edge".
// TensorBoard (data_compat._migrate_histogram_value) takes bucket i's
// edges from BucketLimit[i-1] and BucketLimit[i], using Min and Max for
// the outer edges of the first and last non-empty buckets, so it draws
// every bucket with its true edges. When all values are equal there is one
// bucket of zero width at that value (edges [v, v]), which is what
// TensorBoard's histogram summary describes for that case. Non-finite
// values are left out (they have no place on an axis); ok is false when
// no finite value remains.
func makeHistogram(values []float64, n int) (h *Histogram, ok bool) {
	h = &Histogram{Min: math.Inf(1), Max: math.Inf(-1)}
	for _, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		h.Min = math.Min(h.Min, v)
		h.Max = math.Max(h.Max, v)
		h.Num++
		h.Sum += v
		h.SumSquares += v * v
	}
	if h.Num == 0 {
		return nil, false
	}
	lo, hi := h.Min, h.Max
	if lo == hi {
		h.BucketLimit = []float64{lo, hi}
		h.Bucket = []float64{0, h.Num}
		return h, true
	}
	// Dividing first keeps the width finite when hi-lo would overflow.
	width := hi/float64(n) - lo/float64(n)
	h.BucketLimit = make([]float64, n+1)
	for i := range h.BucketLimit {
		h.BucketLimit[i] = lo + float64(i)*width
	}
	h.BucketLimit[n] = hi
	h.Bucket = make([]float64, n+1)
	for _, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		// Halving both sides keeps v-lo finite for the widest ranges; the
		// quotient is clamped before the conversion to int, which is
		// undefined for values out of range.
		f := (v/2 - lo/2) / (width / 2)
		i := 0
		switch {
		case f >= float64(n):
			i = n - 1
		case f > 0:
			i = int(f)
		}
		h.Bucket[i+1]++
	}
	return h, true
}
