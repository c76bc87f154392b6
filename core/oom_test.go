package core

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
)

func TestOutOfMemory(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
		need int64
	}{
		{fmt.Errorf("fit: %w", ErrOutOfMemory), true, 0},
		{fmt.Errorf("mmap: %w", syscall.ENOMEM), true, 0},
		{errors.New("fatal error: runtime: out of memory\n\nruntime: out of memory: cannot allocate 53687091200-byte block (3997696 in use)"), true, 53687091200},
		{errors.New("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate memory for requested buffer of size 268435456"), true, 268435456},
		{errors.New("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1073741824 bytes."), true, 1073741824},
		{errors.New("terminate called after throwing an instance of 'std::bad_alloc'"), true, 0},
		{errors.New("open x.npy: no such file or directory"), false, 0},
		{errors.New("rpc error: code = ResourceExhausted desc = no space left on device"), false, 0},
		{nil, false, 0},
	} {
		if got := OutOfMemory(c.err); got != c.want {
			t.Errorf("OutOfMemory(%v) = %v, want %v", c.err, got, c.want)
		}
		if c.err != nil {
			if got := MemoryRequested(c.err.Error()); got != c.need {
				t.Errorf("MemoryRequested(%q) = %d, want %d", c.err, got, c.need)
			}
		}
	}
}
