package tbevents

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// DefaultFlushInterval is how long a record may wait in memory before it
// is written to the file, unless FlushInterval says otherwise: what a
// killed process loses at most.
const DefaultFlushInterval = 2 * time.Second

// maxBuffered is how many encoded bytes wait for the next flush at most;
// more (an image) are written at once.
const maxBuffered = 1 << 20

// ErrClosed is returned by a Writer's methods after Close.
var ErrClosed = errors.New("tbevents: writer is closed")

// Option configures Create and Resume.
type Option func(*config)

type config struct {
	interval time.Duration
	buckets  int
	now      func() time.Time
}

// FlushInterval sets how long records may wait in memory before they are
// written to the file (default DefaultFlushInterval); it must be positive.
func FlushInterval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// HistogramBuckets sets the number of equal-width buckets of
// Writer.Histogram (default DefaultHistogramBuckets); it must be positive.
func HistogramBuckets(n int) Option { return func(c *config) { c.buckets = n } }

// WallClock sets the clock that stamps each record's wall_time (default
// time.Now). It does not change when records are flushed.
func WallClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

func newConfig(opts []Option) (config, error) {
	c := config{interval: DefaultFlushInterval, buckets: DefaultHistogramBuckets, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	if c.interval <= 0 {
		return c, fmt.Errorf("tbevents: flush interval %v: give a positive duration", c.interval)
	}
	if c.buckets <= 0 {
		return c, fmt.Errorf("tbevents: %d histogram buckets: give a positive number", c.buckets)
	}
	if c.now == nil {
		return c, errors.New("tbevents: nil wall clock: give a function such as time.Now")
	}
	return c, nil
}

// Writer appends records to one event file. It is safe for concurrent use
// by several goroutines. Records are buffered and written at the latest
// one flush interval after they were added; Close writes the rest and
// stops the Writer's background goroutine, so every Writer must be
// closed. After a failed write the Writer stops and every call returns
// that error.
type Writer struct {
	path string
	cfg  config

	mu     sync.Mutex
	f      *os.File
	buf    []byte // complete encoded records not yet written
	size   int64  // bytes of complete records in the file
	err    error  // the first write failure; the writer stops there
	closed bool

	stop chan struct{}
	done chan struct{}
}

// Create creates dir if needed and a new event file in it, named as
// TensorBoard and tensorboardX name theirs
// (events.out.tfevents.<unix seconds>.<host>.<pid>.<counter>) and named to
// sort after any event file already there, and writes the file_version
// record at once, so that TensorBoard lists the run from the start.
func Create(dir string, opts ...Option) (*Writer, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tbevents: create the event directory: %w (check the run directory's permissions)", err)
	}
	existing, err := Files(dir)
	if err != nil {
		return nil, err
	}
	created := cfg.now()
	path := newFilePath(dir, created, existing)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("tbevents: create the event file: %w (check the directory's permissions and free space)", err)
	}
	first := appendRecord(nil, fileVersionEvent(wallTime(created)))
	if _, err := f.Write(first); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("tbevents: write %s: %w (free disk space or fix the directory's permissions)", path, err)
	}
	return start(path, f, int64(len(first)), cfg), nil
}

// start returns a Writer appending to f, size bytes long, and starts its
// background flusher.
func start(path string, f *os.File, size int64, cfg config) *Writer {
	w := &Writer{path: path, cfg: cfg, f: f, size: size, stop: make(chan struct{}), done: make(chan struct{})}
	go w.flusher()
	return w
}

// Path is the event file the Writer appends to.
func (w *Writer) Path() string { return w.path }

// flusher writes buffered records every flush interval, so that a record
// reaches the file at most one interval after it was added.
func (w *Writer) flusher() {
	defer close(w.done)
	t := time.NewTicker(w.cfg.interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			if !w.closed && len(w.buf) > 0 {
				// A failure is kept in w.err and returned by the next call.
				_ = w.flushLocked()
			}
			w.mu.Unlock()
		}
	}
}

// Scalar records value for tag at step. TensorBoard stores scalars as
// float32 (Summary.Value.simple_value), so value is rounded to float32.
func (w *Writer) Scalar(tag string, step int64, value float64) error {
	if err := checkTag(tag); err != nil {
		return err
	}
	return w.add(summaryEvent(wallTime(w.cfg.now()), step, scalarValue(tag, float32(value))))
}

// Text records text (Markdown, shown by TensorBoard's Text dashboard) for
// tag at step.
func (w *Writer) Text(tag string, step int64, text string) error {
	if err := checkTag(tag); err != nil {
		return err
	}
	return w.add(summaryEvent(wallTime(w.cfg.now()), step, textValue(tag, text)))
}

// Image records a PNG image of width x height pixels for tag at step. The
// PNG header must agree with width and height; its colour type gives the
// colorspace field (grey, grey+alpha, RGB, RGBA; palette images count as
// RGB).
func (w *Writer) Image(tag string, step int64, png []byte, width, height int) error {
	if err := checkTag(tag); err != nil {
		return err
	}
	colorspace, err := pngColorspace(png, width, height)
	if err != nil {
		return fmt.Errorf("tbevents: image %q at step %d: %w", tag, step, err)
	}
	return w.add(summaryEvent(wallTime(w.cfg.now()), step, imageValue(tag, width, height, colorspace, png)))
}

// Histogram records the distribution of values for tag at step as a
// HistogramProto with equal-width buckets over [min, max] (see
// HistogramBuckets; one zero-width bucket when all values are equal), the
// bucketing of TensorBoard's own tf.summary.histogram, rather than
// TensorFlow 1's fixed buckets growing by 10% from 1e-12 to 1e20 (about
// 1,550 edges, whose resolution depends on where the values lie). NaN and
// infinite values are left out; an error is returned when no finite value
// remains.
func (w *Writer) Histogram(tag string, step int64, values []float64) error {
	if err := checkTag(tag); err != nil {
		return err
	}
	h, ok := makeHistogram(values, w.cfg.buckets)
	if !ok {
		return fmt.Errorf("tbevents: histogram %q at step %d has no finite values (of %d); pass at least one finite value", tag, step, len(values))
	}
	return w.add(summaryEvent(wallTime(w.cfg.now()), step, histoValue(tag, h)))
}

// add frames one encoded Event and buffers it, writing the buffer when it
// is large (the flusher writes it within an interval otherwise).
func (w *Writer) add(event []byte) error {
	rec := appendRecord(make([]byte, 0, len(event)+16), event)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	w.buf = append(w.buf, rec...)
	if len(w.buf) >= maxBuffered {
		return w.flushLocked()
	}
	return nil
}

// flushLocked writes the buffer with one write call, so that a process
// killed meanwhile leaves whole records. On failure it cuts the file back
// to its last complete record, so that it stays readable to its end, and
// the writer stops: w.err is returned from then on.
func (w *Writer) flushLocked() error {
	if w.err != nil || len(w.buf) == 0 {
		return w.err
	}
	n, err := w.f.Write(w.buf)
	if err != nil {
		if n > 0 {
			_ = w.f.Truncate(w.size)
		}
		w.err = fmt.Errorf("tbevents: write %s: %w (free disk space or fix permissions, then resume the run; the file holds the records written before)", w.path, err)
		w.buf = nil
		return w.err
	}
	w.size += int64(n)
	if cap(w.buf) > 4*maxBuffered {
		w.buf = nil // do not keep a large image's buffer for good
	} else {
		w.buf = w.buf[:0]
	}
	return nil
}

// Flush writes the buffered records and syncs the file to disk, e.g. when
// a checkpoint is written.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if err := w.flushLocked(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("tbevents: sync %s: %w", w.path, err)
	}
	return nil
}

// Close writes the buffered records, syncs and closes the file, and stops
// the background flusher. Closing again does nothing and returns nil.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	err := w.flushLocked()
	if err == nil {
		if e := w.f.Sync(); e != nil {
			err = fmt.Errorf("tbevents: sync %s: %w", w.path, e)
		}
	}
	if e := w.f.Close(); e != nil && err == nil {
		err = fmt.Errorf("tbevents: close %s: %w", w.path, e)
	}
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	return err
}

func wallTime(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

func checkTag(tag string) error {
	if tag == "" {
		return errors.New("tbevents: empty tag: give every value a name, such as \"loss\" or \"eval/acc\"")
	}
	return nil
}

// pngColorspace checks the PNG signature and IHDR chunk against width and
// height and returns the Summary.Image colorspace of its colour type.
func pngColorspace(png []byte, width, height int) (int, error) {
	const sig = "\x89PNG\r\n\x1a\n"
	if len(png) < 33 || string(png[:8]) != sig || string(png[12:16]) != "IHDR" {
		return 0, errors.New("not a PNG image (no PNG signature and IHDR chunk); encode it with image/png")
	}
	w, h := binary.BigEndian.Uint32(png[16:20]), binary.BigEndian.Uint32(png[20:24])
	if int64(w) != int64(width) || int64(h) != int64(height) {
		return 0, fmt.Errorf("the PNG is %dx%d, not %dx%d as given", w, h, width, height)
	}
	switch png[25] { // colour type
	case 0:
		return 1, nil // greyscale
	case 4:
		return 2, nil // greyscale + alpha
	case 2, 3:
		return 3, nil // RGB, palette
	case 6:
		return 4, nil // RGBA
	}
	return 0, fmt.Errorf("PNG colour type %d is not one PNG defines", png[25])
}
