package plugintest

import (
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/clusterlab/clusterlab/core"
)

// Batches is a core.BatchReader over batches in memory: Next serves List
// in order, as the runner streams a split, then io.EOF. Safe for
// concurrent use.
type Batches struct {
	List []core.ImageBatch
	Done int // how many batches Next has served

	mu sync.Mutex
}

func (b *Batches) Next() (core.ImageBatch, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Done >= len(b.List) {
		return core.ImageBatch{}, io.EOF
	}
	b.Done++
	return b.List[b.Done-1], nil
}

// WantInvalid checks that err is invalid input (core.ErrInvalidInput: the
// runner exits 2 on it) and that its message holds every one of parts;
// what names the case in the failures.
func WantInvalid(t testing.TB, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	t.Logf("%s: %v", what, err)
	if !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("%s: %v is not marked invalid input (the runner would not exit 2)", what, err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not mention %q", what, err, p)
		}
	}
}
