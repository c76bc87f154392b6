package plugins

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clusterlab/clusterlab/core"
)

// stderrKeep is how much of a plugin's stderr is kept for error messages.
const stderrKeep = 8 << 10

// stderrTailLines is how many lines of it an error message quotes.
const stderrTailLines = 20

// tailBuffer keeps the last bytes written to it (a plugin's stderr). It is
// safe for concurrent writers: go-plugin's stdio stream and the raw pipe.
type tailBuffer struct {
	mu      sync.Mutex
	buf     []byte
	limit   int
	written int64 // bytes written in all
	// Seen in everything written, also what was trimmed since: the first
	// line of a Go panic or fatal error, and whether (and for how many
	// bytes) an allocation failed. A Go fatal error prints its reason
	// first and then every goroutine's stack, which can push it out of
	// the kept bytes.
	fatal   string
	oom     bool
	oomNeed int64
}

func newTailBuffer(limit int) *tailBuffer { return &tailBuffer{limit: limit} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	t.written += int64(len(p))
	// The new bytes with a margin before them, for a line or message cut
	// between two writes.
	window := string(t.buf[max(0, len(t.buf)-len(p)-256):])
	if core.OutOfMemoryText(window) {
		t.oom = true
		t.oomNeed = max(t.oomNeed, core.MemoryRequested(window))
	}
	if t.fatal == "" {
		for _, l := range strings.Split(window, "\n") {
			if l = strings.TrimRight(l, "\r \t"); isPanicLine(l) {
				t.fatal = l
				break
			}
		}
	}
	// Trim only when twice over the limit so that trimming is amortised.
	if len(t.buf) > 2*t.limit {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.limit:]...)
	}
	return len(p), nil
}

// settle waits until nothing was written for quiet, at most max: what a
// live plugin wrote just before it failed may still be in the pipe.
func (t *tailBuffer) settle(quiet, max time.Duration) {
	deadline := time.Now().Add(max)
	last := t.total()
	for time.Now().Before(deadline) {
		time.Sleep(quiet)
		n := t.total()
		if n == last {
			return
		}
		last = n
	}
}

// outOfMemory reports whether the plugin said it ran out of memory, and
// the size of the allocation that failed where it said (0 otherwise).
func (t *tailBuffer) outOfMemory() (bool, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.oom, t.oomNeed
}

func (t *tailBuffer) total() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.written
}

// String returns the kept text (at most about limit bytes, starting at a
// line boundary when it was cut).
func (t *tailBuffer) String() string {
	t.mu.Lock()
	b := t.buf
	cut := false
	if len(b) > t.limit {
		b, cut = b[len(b)-t.limit:], true
	}
	s := string(b)
	t.mu.Unlock()
	if cut {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return s
}

// Tail returns the last n non-empty lines. When a Go panic or fatal error
// started before those lines, its first line is kept in front: the tail of
// a stack trace alone does not say what happened.
func (t *tailBuffer) Tail(n int) string {
	var lines []string
	for _, l := range strings.Split(t.String(), "\n") {
		l = strings.TrimRight(l, "\r \t")
		if l != "" {
			lines = append(lines, l)
		}
	}
	t.mu.Lock()
	fatal := t.fatal
	t.mu.Unlock()
	if fatal != "" && !slices.Contains(lines, fatal) {
		// The panic's first line was trimmed from the kept bytes.
		lines = append([]string{fatal, "..."}, lines...)
		if len(lines) > n {
			lines = append(lines[:2], lines[len(lines)-(n-1):]...)
		}
		return strings.Join(lines, "\n")
	}
	if len(lines) <= n {
		return strings.Join(lines, "\n")
	}
	head := lines[:len(lines)-n]
	tail := lines[len(lines)-n:]
	if slices.ContainsFunc(tail, isPanicLine) {
		return strings.Join(tail, "\n")
	}
	for i := len(head) - 1; i >= 0; i-- {
		if isPanicLine(head[i]) {
			tail = append([]string{head[i], "..."}, tail[1:]...)
			break
		}
	}
	return strings.Join(tail, "\n")
}

func isPanicLine(l string) bool {
	return strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ")
}
