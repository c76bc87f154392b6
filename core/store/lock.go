package store

import (
	"github.com/clusterlab/clusterlab/core"

	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrLocked is returned by TryLockDir when another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// LockFileName is the lock file TryLockDir creates in a directory.
const LockFileName = ".lock"

// TryLockDir takes an exclusive, non-blocking lock on dir (an flock on
// dir/.lock holding the owner's pid), so that two processes never work in
// one run directory at once. The lock dies with the process, so a killed
// run never leaves a stale lock behind. When another process holds it the
// error wraps ErrLocked and names that process.
func TryLockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
					holder = fmt.Sprintf("process %d", pid)
				}
			}
			return nil, fmt.Errorf("%s is in use by %s: %w", dir, holder, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Record who holds it, for the message above; the flock, not the
	// content, is the lock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// FreeBytes is the space available to this user on the filesystem holding
// path.
func FreeBytes(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// ErrNoSpace marks a check that found too little free disk space; it is
// core.ErrNoSpace, which also crosses the plugin protocol.
var ErrNoSpace = core.ErrNoSpace

// freeBytes is FreeBytes, replaceable in tests.
var freeBytes = FreeBytes

// margin is kept free beyond what a write needs: other files, metadata
// and the temporary copy of whatever is replaced.
const margin = 64 << 20

// CheckFree reports an error wrapping ErrNoSpace when the filesystem of dir
// has less than need bytes (plus a margin) free. what names the data that
// would be written, for the message. A filesystem that cannot report its
// free space is not an error: the writes themselves stay atomic.
func CheckFree(dir string, need uint64, what string) error {
	free, err := freeBytes(dir)
	if err != nil {
		return nil
	}
	if free < need+margin {
		return fmt.Errorf("%w: %s needs about %s in %s but only %s is free; free some space or point the config at another disk",
			ErrNoSpace, what, HumanBytes(need), dir, HumanBytes(free))
	}
	return nil
}

// HumanBytes renders n as B/KiB/MiB/GiB.
func HumanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
