package store

import (
	"github.com/clusterlab/clusterlab/core"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// ErrLocked is returned by TryLockDir when another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// ErrLockUnsupported marks a lock the filesystem refused to take at all
// (flock or fcntl failed with ENOLCK, ENOSYS, EOPNOTSUPP or EINVAL): the
// errors wrap it and the cause, and say which mount option or setting
// fixes it, or to use a local folder instead.
var ErrLockUnsupported = errors.New("the filesystem does not support file locks")

// LockFileName is the lock file TryLockDir creates in a directory, and
// Entry.Lock in an entry.
const LockFileName = ".lock"

// TryLockDir takes an exclusive, non-blocking lock on dir (a lock on
// dir/.lock; see "The lock primitive" below), so that two processes, on this machine or on
// others sharing the filesystem, never work in one run directory at once.
// The lock dies with the process, so a killed run never leaves a stale
// lock behind. The file names the holder (host, pid, since when; see
// Holder). When another process holds the lock the error wraps ErrLocked
// and names that process and its host.
func TryLockDir(dir string) (unlock func(), err error) {
	f, path, ok, err := tryLockIn(dir)
	if err != nil {
		return nil, err
	}
	if !ok {
		f.Close()
		return nil, fmt.Errorf("%s is in use by %s: %w", dir, holderOf(path), ErrLocked)
	}
	writeHolder(f)
	// Closing the only descriptor of the open file releases its lock.
	return func() { f.Close() }, nil
}

// lockEntryDir takes the lock of an entry directory, waiting for it when
// another process holds it: onWait (when not nil) is told who holds it
// before the wait. ctx ends the wait.
func lockEntryDir(ctx context.Context, dir string, onWait func(Holder)) (unlock func(), err error) {
	f, path, ok, err := tryLockIn(dir)
	if err != nil {
		return nil, err
	}
	if !ok {
		if onWait != nil {
			h, _ := readHolder(path)
			onWait(h)
		}
		// waitLockFile owns f from here on: it closes it on failure, and
		// later, when ctx ended the wait first.
		if err := waitLockFile(ctx, f); err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
				return nil, fmt.Errorf("wait for the lock of %s: %w", dir, err)
			}
			return nil, lockError(path, err)
		}
	}
	writeHolder(f)
	return func() { f.Close() }, nil
}

// tryLockIn opens dir/.lock (creating dir and the file) and tries to lock
// it without waiting. ok says whether it got the lock; either way f is
// open and the caller closes it (closing releases the lock).
func tryLockIn(dir string) (f *os.File, path string, ok bool, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", false, err
	}
	path = filepath.Join(dir, LockFileName)
	if f, err = openLockFile(path); err != nil {
		return nil, "", false, err
	}
	if ok, err = tryLockFile(f); err != nil {
		f.Close()
		return nil, "", false, lockError(path, err)
	}
	return f, path, ok, nil
}

// The lock primitive.
//
// On Linux the lock is an open file description lock (fcntl F_OFD_SETLK,
// Linux 3.15+) on the whole file: like flock(2) it belongs to the open
// file, not the process (two opens in one process exclude each other, and
// it is released when the file is closed or the process dies); unlike
// flock(2) it is a POSIX byte-range lock, which is what network
// filesystems carry to their lock servers: NFS (NLM for v3, the protocol
// itself for v4), IBM Storage Scale (GPFS, whose flock is local to a
// node), Lustre and BeeGFS when their global locks are enabled, CephFS,
// GFS2 and SMB. Elsewhere, or on a kernel without OFD locks, it is
// flock(2). docs/DECISIONS.md ("Locks across machines") lists which
// filesystems and mount options make it hold across hosts.

// Linux's fcntl commands for open file description locks (the same on
// every architecture; the syscall package does not name them).
const (
	fOFDSetLk  = 37
	fOFDSetLkW = 38
)

// openLockFile opens (creating) a lock file for reading and writing: an
// exclusive POSIX lock needs a file open for writing, and the holder is
// written into it. It is not truncated here, since another process may
// hold it and its content names that process.
func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	return f, nil
}

// tryLockFile takes the lock of f without waiting; false means another
// open file (this process's or another's, this host's or another's)
// holds it.
func tryLockFile(f *os.File) (bool, error) {
	err := lockFD(int(f.Fd()), false)
	if wouldBlock(err) {
		return false, nil
	}
	return err == nil, err
}

// waitLockFile blocks until it holds the lock of f. A context that can
// end makes the wait run in a goroutine, since a blocked fcntl or flock
// cannot be interrupted: when ctx ends first the goroutine is left to
// take the lock whenever it comes free, and closes f (releasing it) at
// once. f belongs to waitLockFile until it returns nil.
func waitLockFile(ctx context.Context, f *os.File) error {
	if ctx.Done() == nil {
		if err := lockFD(int(f.Fd()), true); err != nil {
			f.Close()
			return err
		}
		return nil
	}
	fd := int(f.Fd())
	done := make(chan error, 1)
	go func() { done <- lockFD(fd, true) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
		}
		return err
	case <-ctx.Done():
		go func() {
			<-done
			f.Close()
		}()
		return ctx.Err()
	}
}

// lockFD takes an exclusive lock on the whole of fd, waiting for it or
// not, retrying calls a signal interrupted.
func lockFD(fd int, wait bool) error {
	for {
		err := lockOnce(fd, wait)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func lockOnce(fd int, wait bool) error {
	if runtime.GOOS == "linux" {
		cmd := fOFDSetLk
		if wait {
			cmd = fOFDSetLkW
		}
		// l_len 0 locks to the end of the file and beyond; l_pid must be
		// 0 for OFD locks.
		lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 0, Len: 0}
		err := syscall.FcntlFlock(uintptr(fd), cmd, &lk)
		// EINVAL: a kernel before 3.15, which does not know the command
		// (a filesystem that refuses locks refuses flock(2) too).
		if !errors.Is(err, syscall.EINVAL) {
			return err
		}
	}
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	return syscall.Flock(fd, how)
}

// wouldBlock reports an error that means another holds the lock: flock
// says EWOULDBLOCK, fcntl EAGAIN or EACCES.
func wouldBlock(err error) bool {
	return errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES)
}

// lockUnsupported reports the errors with which a filesystem refuses file
// locks: ENOLCK (NFS without a reachable lock manager: NFSv3 without
// rpc.statd/lockd on either side), ENOSYS (Lustre mounted without
// -o flock), EOPNOTSUPP/ENOTSUP, and EINVAL (a filesystem without lock
// support at all).
func lockUnsupported(err error) bool {
	for _, e := range []syscall.Errno{syscall.ENOLCK, syscall.ENOSYS, syscall.EOPNOTSUPP, syscall.ENOTSUP, syscall.EINVAL} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// lockError wraps an error from taking the lock at path; one that means
// the filesystem refuses locks also wraps ErrLockUnsupported and says
// what to do.
func lockError(path string, err error) error {
	if lockUnsupported(err) {
		return fmt.Errorf("lock %s: %w (%w); the cache and run directories need file locks that hold across processes and machines: "+
			"on NFS mount without nolock or local_lock=all|posix (NFSv3 also needs rpc.statd running on client and server), "+
			"on Lustre mount with -o flock, on BeeGFS set tuneUseGlobalFileLocks=true in beegfs-client.conf; "+
			"or point cache_dir and runs_dir at a local folder", path, ErrLockUnsupported, err)
	}
	return fmt.Errorf("lock %s: %w", path, err)
}

// Holder is the process that took a lock, as its lock file records it.
// The file names the last holder: whether it still holds the lock is the
// lock's business (a process that died released it), not the file's.
type Holder struct {
	// Host is os.Hostname of the holder's machine ("" in files written
	// before hosts were recorded, which held the pid alone).
	Host string `json:"host,omitempty"`
	PID  int    `json:"pid"`
	// Since is when the lock was taken, UTC, to the second.
	Since time.Time `json:"since,omitzero"`
}

// String names the holder for messages: "process 4242 on node12 since
// 2026-12-05 03:00:00 UTC", leaving out what the file did not record,
// and "another process" when it recorded nothing.
func (h Holder) String() string {
	if h.PID <= 0 {
		return "another process"
	}
	s := "process " + strconv.Itoa(h.PID)
	if h.Host != "" {
		s += " on " + h.Host
	}
	if !h.Since.IsZero() {
		s += " since " + h.Since.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return s
}

// Local reports whether the holder ran on this machine (same host name).
// Only then can its pid be checked (Alive). In a container the host name
// is the container's, and the pid is in its pid namespace.
func (h Holder) Local() bool {
	host, err := os.Hostname()
	return err == nil && h.Host != "" && h.Host == host
}

// Alive reports false only when the holder is known to be gone: it ran on
// this host and no process has its pid any more (kill(pid, 0)). A holder
// on another host cannot be checked from here and reads as alive; so does
// one whose file recorded no host. Liveness is never needed for
// correctness: the lock, not the file, is the lock, and it is released
// when its process dies, and, for a holder on another host that died or
// lost the network, by the filesystem's lock server (NFSv4 when the
// client's lease expires, NFSv3 when rpc.statd notices the reboot, the
// cluster managers of GPFS, Lustre and CephFS when they evict the node).
// A pid the system reused reads as alive.
func (h Holder) Alive() bool {
	if h.PID <= 0 || !h.Local() {
		return true
	}
	err := syscall.Kill(h.PID, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// LockHolder reads who took the lock of dir (a run directory or a cache
// entry) last, from its lock file; see Holder. A file holding only a pid
// (written before hosts were recorded) gives a Holder without host and
// time. An empty or unreadable file is an error.
func LockHolder(dir string) (Holder, error) {
	return readHolder(filepath.Join(dir, LockFileName))
}

func readHolder(path string) (Holder, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Holder{}, fmt.Errorf("read lock holder: %w", err)
	}
	return parseHolder(b)
}

// parseHolder reads the first line of a lock file: the JSON writeHolder
// writes, or a bare pid. Only the first line counts, since writeHolder
// writes before it truncates and a reader may see the tail of a longer
// old content after it.
func parseHolder(b []byte) (Holder, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return Holder{}, errors.New("read lock holder: the lock file names no holder")
	}
	if line[0] == '{' {
		var h Holder
		if err := json.Unmarshal(line, &h); err != nil {
			return Holder{}, fmt.Errorf("read lock holder: %w", err)
		}
		return h, nil
	}
	pid, err := strconv.Atoi(string(line))
	if err != nil || pid <= 0 {
		return Holder{}, fmt.Errorf("read lock holder: %q is not a pid", line)
	}
	return Holder{PID: pid}, nil
}

// holderOf names the holder of the lock file at path for a message.
func holderOf(path string) string {
	h, err := readHolder(path)
	if err != nil {
		return "another process"
	}
	return h.String()
}

// writeHolder records this process in the lock file it now holds, as one
// JSON line: {"host":"node12","pid":4242,"since":"2026-12-05T03:00:00Z"}.
// It writes over the old content and then cuts it to length, so a reader
// never finds the file empty, and syncs, so that readers on other hosts
// of a network filesystem (which read the server's copy) see it while the
// lock is held. The content only names the holder for messages; failing
// to write it does not fail the lock.
func writeHolder(f *os.File) {
	host, _ := os.Hostname()
	b, err := json.Marshal(Holder{Host: host, PID: os.Getpid(), Since: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return
	}
	b = append(b, '\n')
	if _, err := f.WriteAt(b, 0); err != nil {
		return
	}
	_ = f.Truncate(int64(len(b)))
	_ = f.Sync()
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
