package store

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func hostname(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil || h == "" {
		t.Skipf("no host name: %v", err)
	}
	return h
}

func TestTryLockDirExcludesSecondHolder(t *testing.T) {
	host := hostname(t)
	dir := filepath.Join(t.TempDir(), "run")
	before := time.Now().UTC().Truncate(time.Second)
	unlock, err := TryLockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := LockHolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if h.Host != host || h.PID != os.Getpid() || h.Since.Before(before) || h.Since.After(time.Now()) {
		t.Errorf("lock file names %+v, want host %s, pid %d, since about %s", h, host, os.Getpid(), before)
	}
	// The lock belongs to the open file, so a second open in this process
	// conflicts exactly as another process, or another host, would.
	_, err = TryLockDir(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	want := fmt.Sprintf("%s is in use by process %d on %s since %s", dir, os.Getpid(), host, h.Since.Format("2006-01-02 15:04:05 UTC"))
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	unlock()
	unlock2, err := TryLockDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

// A lock file written before hosts were recorded holds a bare pid; it is
// still read, and named in the error of a second locker.
func TestOldPidOnlyLockFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LockFileName)
	if err := os.WriteFile(path, []byte("4242\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := LockHolder(dir)
	if err != nil || h != (Holder{PID: 4242}) {
		t.Fatalf("LockHolder = %+v, %v; want pid 4242 alone", h, err)
	}
	// Hold the lock as an old process would: without rewriting the file.
	f, err := openLockFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ok, err := tryLockFile(f); !ok || err != nil {
		t.Fatalf("tryLockFile = %v, %v", ok, err)
	}
	_, err = TryLockDir(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "is in use by process 4242: ") {
		t.Errorf("second lock: %v; want ErrLocked naming process 4242", err)
	}
}

func TestParseHolder(t *testing.T) {
	since := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want Holder
		bad  bool
	}{
		{in: `{"host":"node12","pid":4242,"since":"2026-12-05T03:00:00Z"}` + "\n", want: Holder{Host: "node12", PID: 4242, Since: since}},
		// writeHolder writes before it truncates: a reader may see the
		// tail of a longer old content after the first line.
		{in: `{"host":"n1","pid":7}` + "\n" + `e":"2026-01-01T00:00:00Z"}` + "\n", want: Holder{Host: "n1", PID: 7}},
		{in: "  4242  \n", want: Holder{PID: 4242}},
		{in: "4242", want: Holder{PID: 4242}},
		{in: "", bad: true},
		{in: "\n", bad: true},
		{in: "-3\n", bad: true},
		{in: "node12\n", bad: true},
		{in: `{"host":`, bad: true},
	} {
		h, err := parseHolder([]byte(c.in))
		if c.bad {
			if err == nil {
				t.Errorf("parseHolder(%q) = %+v, want an error", c.in, h)
			}
			continue
		}
		if err != nil || !h.Since.Equal(c.want.Since) || h.Host != c.want.Host || h.PID != c.want.PID {
			t.Errorf("parseHolder(%q) = %+v, %v; want %+v", c.in, h, err, c.want)
		}
	}
}

func TestHolderString(t *testing.T) {
	since := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		h    Holder
		want string
	}{
		{Holder{Host: "node12", PID: 4242, Since: since}, "process 4242 on node12 since 2026-12-05 03:00:00 UTC"},
		{Holder{Host: "node12", PID: 4242, Since: since.In(time.FixedZone("CET", 3600))}, "process 4242 on node12 since 2026-12-05 03:00:00 UTC"},
		{Holder{Host: "node12", PID: 4242}, "process 4242 on node12"},
		{Holder{PID: 4242}, "process 4242"},
		{Holder{}, "another process"},
	} {
		if got := c.h.String(); got != c.want {
			t.Errorf("%+v.String() = %q, want %q", c.h, got, c.want)
		}
	}
}

func TestHolderLocalAlive(t *testing.T) {
	host := hostname(t)
	me := Holder{Host: host, PID: os.Getpid()}
	if !me.Local() || !me.Alive() {
		t.Errorf("this process: Local %v, Alive %v; want both", me.Local(), me.Alive())
	}
	// A process of this host that has exited (and been reaped).
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	gone := Holder{Host: host, PID: cmd.Process.Pid}
	if !gone.Local() || gone.Alive() {
		t.Errorf("exited process %d: Local %v, Alive %v; want local and not alive", gone.PID, gone.Local(), gone.Alive())
	}
	// On another host, or with no host recorded, nothing can be checked:
	// it reads as alive, whatever the pid.
	for _, h := range []Holder{{Host: host + "-elsewhere", PID: cmd.Process.Pid}, {PID: cmd.Process.Pid}} {
		if h.Local() || !h.Alive() {
			t.Errorf("%+v: Local %v, Alive %v; want not local, alive", h, h.Local(), h.Alive())
		}
	}
}

func TestLockErrorUnsupportedFilesystem(t *testing.T) {
	path := "/shared/cache/embeddings/ab/abcd/.lock"
	for _, errno := range []syscall.Errno{syscall.ENOLCK, syscall.ENOSYS, syscall.EOPNOTSUPP, syscall.ENOTSUP, syscall.EINVAL} {
		err := lockError(path, errno)
		if !errors.Is(err, ErrLockUnsupported) || !errors.Is(err, errno) {
			t.Errorf("%v: %v does not wrap ErrLockUnsupported and the cause", errno, err)
		}
		for _, want := range []string{path, errno.Error(), "nolock", "-o flock", "tuneUseGlobalFileLocks=true", "local folder"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: message %q lacks %q", errno, err, want)
			}
		}
	}
	for _, errno := range []syscall.Errno{syscall.EIO, syscall.EBADF, syscall.EDEADLK} {
		err := lockError(path, errno)
		if errors.Is(err, ErrLockUnsupported) || !errors.Is(err, errno) || !strings.Contains(err.Error(), path) {
			t.Errorf("%v: %v; want the cause and path, not ErrLockUnsupported", errno, err)
		}
	}
	if wouldBlock(syscall.ENOLCK) || !wouldBlock(syscall.EAGAIN) || !wouldBlock(syscall.EACCES) {
		t.Error("wouldBlock mistakes its errors")
	}
}

// On Linux the lock is an open file description lock (a POSIX lock, which
// network filesystems carry to their lock servers; flock is node-local
// on GPFS): /proc/locks says so.
func TestLockIsOFDLockOnLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("OFD locks are Linux's")
	}
	dir := t.TempDir()
	unlock, err := TryLockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	st, err := os.Stat(filepath.Join(dir, LockFileName))
	if err != nil {
		t.Fatal(err)
	}
	ino := strconv.FormatUint(st.Sys().(*syscall.Stat_t).Ino, 10)
	f, err := os.Open("/proc/locks")
	if err != nil {
		t.Skipf("no /proc/locks: %v", err)
	}
	defer f.Close()
	var ours []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "1: OFDLCK ADVISORY  WRITE -1 08:01:1234 0 EOF": the sixth
		// field is major:minor:inode.
		fields := strings.Fields(sc.Text())
		if len(fields) >= 6 && strings.HasSuffix(fields[5], ":"+ino) {
			ours = append(ours, sc.Text())
		}
	}
	if len(ours) != 1 || !strings.Contains(ours[0], "OFDLCK") || !strings.Contains(ours[0], "WRITE") || !strings.HasSuffix(ours[0], " 0 EOF") {
		t.Errorf("locks on the lock file: %q; want one OFD write lock of the whole file", ours)
	}
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
