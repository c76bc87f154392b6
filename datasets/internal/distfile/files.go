package distfile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// ContextReader stops a long read (decompressing an archive, hashing a
// file) when Ctx is done.
type ContextReader struct {
	Ctx context.Context
	R   io.Reader
}

func (c ContextReader) Read(p []byte) (int, error) {
	if err := c.Ctx.Err(); err != nil {
		return 0, err
	}
	return c.R.Read(p)
}

// StatKey identifies the version of the files at paths by their absolute
// paths, sizes and modification times.
func StatKey(paths ...string) (string, error) {
	var b strings.Builder
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		st, err := os.Stat(abs)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s\x00%d\x00%d\x00", abs, st.Size(), st.ModTime().UnixNano())
	}
	return b.String(), nil
}

// Recent keeps the values of the few most recently used keys (StatKey's),
// so that a plugin's Describe and the Reads that follow decode the files
// once. Its zero value is not usable: make one with NewRecent.
type Recent[T any] struct {
	mu      sync.Mutex
	size    int
	entries []recentEntry[T] // most recent last
}

type recentEntry[T any] struct {
	key string
	v   T
}

// NewRecent keeps the values of the size most recent keys.
func NewRecent[T any](size int) *Recent[T] { return &Recent[T]{size: size} }

// Get returns the value of key, from the cache when it holds it (hit),
// else from load, which runs with the cache held so that concurrent callers
// load once. A value is kept only when key is not "" and load succeeded.
func (r *Recent[T]) Get(key string, load func() (T, error)) (v T, hit bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range r.entries {
		if key != "" && e.key == key {
			r.entries = append(append(r.entries[:i:i], r.entries[i+1:]...), e)
			return e.v, true, nil
		}
	}
	if v, err = load(); err != nil {
		return v, false, err
	}
	if key != "" {
		r.entries = append(r.entries, recentEntry[T]{key, v})
		if len(r.entries) > r.size {
			r.entries = r.entries[1:]
		}
	}
	return v, false, nil
}

// ClassNames reads a class-names text file: one name per line, surrounding
// blanks and blank trailing lines dropped. blankLine is the first blank
// line amid the names (1-based; 0 when none) and blankOffset its byte
// offset; no names at all is len(names) == 0.
func ClassNames(data []byte) (names []string, blankLine int, blankOffset int64) {
	var offsets []int64
	off := int64(0)
	for line := range bytes.Lines(data) {
		names = append(names, strings.TrimSpace(string(line)))
		offsets = append(offsets, off)
		off += int64(len(line))
	}
	for len(names) > 0 && names[len(names)-1] == "" {
		names = names[:len(names)-1]
	}
	for i, n := range names {
		if n == "" {
			return names, i + 1, offsets[i]
		}
	}
	return names, 0, 0
}
