package tbevents

// BestEffort wraps a Writer for monitoring that must never stop the work
// it watches (a training run): the first failure closes the Writer and is
// handed to report, once, and every later call does nothing. Closing
// reports a failure the same way. It is not safe for concurrent use.
type BestEffort struct {
	w      *Writer
	report func(error)
}

// NewBestEffort wraps w; report receives the first failure.
func NewBestEffort(w *Writer, report func(error)) *BestEffort {
	return &BestEffort{w: w, report: report}
}

// Active reports whether records are still being written.
func (b *BestEffort) Active() bool { return b.w != nil }

// Scalar is Writer.Scalar.
func (b *BestEffort) Scalar(tag string, step int64, value float64) {
	if b.w != nil {
		b.check(b.w.Scalar(tag, step, value))
	}
}

// Flush is Writer.Flush.
func (b *BestEffort) Flush() {
	if b.w != nil {
		b.check(b.w.Flush())
	}
}

// Close closes the Writer (a no-op after a failure or a first Close).
func (b *BestEffort) Close() {
	if b.w == nil {
		return
	}
	w := b.w
	b.w = nil
	if err := w.Close(); err != nil {
		b.report(err)
	}
}

// check stops at the first failure.
func (b *BestEffort) check(err error) {
	if err == nil {
		return
	}
	_ = b.w.Close()
	b.w = nil
	b.report(err)
}
