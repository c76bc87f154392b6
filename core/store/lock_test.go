package store

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestTryLockDirExcludesSecondHolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	unlock, err := TryLockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, LockFileName))
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want our pid", b)
	}
	// flock belongs to the open file, so a second open in this process
	// conflicts exactly as another process would.
	_, err = TryLockDir(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) {
		t.Errorf("error does not name the holder: %v", err)
	}
	unlock()
	unlock2, err := TryLockDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

func TestCheckFree(t *testing.T) {
	dir := t.TempDir()
	real, err := FreeBytes(dir)
	if err != nil || real == 0 {
		t.Fatalf("FreeBytes = %d, %v", real, err)
	}
	if err := CheckFree(dir, 1<<20, "a small file"); err != nil {
		t.Errorf("1 MiB on a disk with %s free: %v", HumanBytes(real), err)
	}
	defer func(f func(string) (uint64, error)) { freeBytes = f }(freeBytes)
	freeBytes = func(string) (uint64, error) { return 100 << 20, nil }
	err = CheckFree(dir, 200<<20, "the embeddings")
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("200 MiB with 100 MiB free: %v, want ErrNoSpace", err)
	}
	for _, want := range []string{"the embeddings", "200.0 MiB", "100.0 MiB", dir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if err := CheckFree(dir, 10<<20, "a little"); err != nil {
		t.Errorf("10 MiB with 100 MiB free: %v", err)
	}
}
