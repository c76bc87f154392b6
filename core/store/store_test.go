package store

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/clusterlab/clusterlab/core/npy"
)

func TestCommitLoadAndDamage(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := s.Entry("embeddings", Hash("a", "b"))
	if _, err := e.Load(); !errors.Is(err, ErrMissing) {
		t.Fatalf("want ErrMissing, got %v", err)
	}
	if err := npy.WriteFloat32(e.Path("train"), []float32{1, 2, 3, 4}, 2, 2); err != nil {
		t.Fatal(err)
	}
	// Not committed yet: still missing.
	if _, err := e.Load(); !errors.Is(err, ErrMissing) {
		t.Fatalf("uncommitted entry must read as missing, got %v", err)
	}
	if _, err := e.Commit(map[string]string{"split": "train"}, "train"); err != nil {
		t.Fatal(err)
	}
	m, err := e.Load()
	if err != nil || m.Arrays["train"].Shape[0] != 2 || m.Identity["split"] != "train" {
		t.Fatalf("%+v %v", m, err)
	}
	// Flip one data byte: checksum error.
	b, _ := os.ReadFile(e.Path("train"))
	b[len(b)-1] ^= 0xff
	os.WriteFile(e.Path("train"), b, 0o644)
	if _, err := e.Load(); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("want checksum error, got %v", err)
	}
	// Truncate: size error.
	os.WriteFile(e.Path("train"), b[:len(b)-4], 0o644)
	if _, err := e.Load(); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("want size error, got %v", err)
	}
	if err := e.Invalidate(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Load(); !errors.Is(err, ErrMissing) {
		t.Fatalf("want ErrMissing after Invalidate, got %v", err)
	}
}

func TestHashUnambiguous(t *testing.T) {
	if Hash("ab", "c") == Hash("a", "bc") {
		t.Fatal("hash must separate parts")
	}
}

func TestLockSerialises(t *testing.T) {
	s, _ := Open(t.TempDir())
	e := s.Entry("knn", Hash("x"))
	var mu sync.Mutex
	inside := 0
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := e.Lock()
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			if inside != 1 {
				t.Error("two holders of the lock at once")
			}
			mu.Unlock()
			mu.Lock()
			inside--
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
}

func TestOpenUnwritable(t *testing.T) {
	if os.Geteuid() == 0 {
		// root ignores permission bits; use a path under a file instead.
		f, _ := os.CreateTemp(t.TempDir(), "file")
		f.Close()
		if _, err := Open(f.Name() + "/cache"); err == nil {
			t.Fatal("want error for a cache under a file")
		}
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	if _, err := Open(dir); err == nil {
		t.Fatal("want error for unwritable cache")
	}
}
