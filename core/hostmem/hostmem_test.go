package hostmem

import (
	"errors"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/store"
)

func TestFreeSeesTheSystem(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the bounds are read from Linux's /proc")
	}
	h, ok := systemBound()
	if !ok || h.Bytes == 0 {
		t.Fatalf("no system bound from /proc/meminfo: %+v", h)
	}
	free, ok := Free()
	if !ok || free.Bytes > h.Bytes {
		t.Fatalf("Free() = %+v, %v; want at most the system's %s", free, ok, store.HumanBytes(h.Bytes))
	}
	if err := Check(h.Bytes*4, "a test's need"); err == nil {
		t.Fatalf("Check of four times the system's available memory passed")
	}
}

// TestAddressSpaceLimit lowers this process's soft RLIMIT_AS to what it
// has mapped plus 512 MiB (as ulimit -v would), and checks that the
// headroom follows it and that a need beyond it is refused as out of
// memory, one within it let through.
func TestAddressSpaceLimit(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the bounds are read from Linux's /proc")
	}
	status, err := readKeyValues("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &old); err != nil {
		t.Fatal(err)
	}
	const room = 512 << 20
	lim := syscall.Rlimit{Cur: status["VmSize"]*1024 + room, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_AS, &old); err != nil {
			t.Errorf("restore RLIMIT_AS: %v", err)
		}
	})
	h, ok := Free()
	if !ok || !strings.Contains(h.Bound, "address-space limit") {
		t.Fatalf("Free() = %+v, %v; want the address-space limit as the bound", h, ok)
	}
	// What the process maps between reading its status and now (a few
	// pages) comes off the room.
	if h.Bytes > room || h.Bytes < room-64<<20 {
		t.Errorf("headroom %s, want about %s", store.HumanBytes(h.Bytes), store.HumanBytes(room))
	}
	err = Check(1<<30, "the test's array")
	if !errors.Is(err, core.ErrOutOfMemory) || !core.OutOfMemory(err) {
		t.Fatalf("Check(1 GiB) under a 512 MiB room = %v; want out of memory", err)
	}
	se, ok := Need(err)
	if !ok || se.Need != 1<<30 || !strings.Contains(err.Error(), "the test's array needs about 1.0 GiB of memory but only") {
		t.Errorf("error %q (%+v)", err, se)
	}
	if err := Check(64<<20, "a small array"); err != nil {
		t.Errorf("Check(64 MiB) under a 512 MiB room: %v", err)
	}

	// The Go runtime's soft limit follows the same room, unless the user
	// set GOMEMLIMIT.
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	t.Setenv("GOMEMLIMIT", "")
	limit, ok := LimitGo()
	total := GoMapped()
	if got := debug.SetMemoryLimit(-1); !ok || uint64(got) != limit || limit > total+room || limit < total+room-64<<20 {
		t.Errorf("LimitGo() = %d, %v, runtime limit %d; want about %d (what Go holds) + %d", limit, ok, got, total, room)
	}
	debug.SetMemoryLimit(before)
	t.Setenv("GOMEMLIMIT", "1GiB")
	if _, ok := LimitGo(); ok || debug.SetMemoryLimit(-1) != before {
		t.Errorf("LimitGo() changed the limit although GOMEMLIMIT is set")
	}
}
