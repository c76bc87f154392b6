// Package hostmem says how much more memory this process can allocate on
// the host, and checks a stage's need against it before the stage starts.
//
// A Go program that cannot get memory does not get an error it could
// report: the runtime stops it with "fatal error: runtime: out of memory",
// or the kernel's OOM killer ends it with SIGKILL. Work the runner does in
// its own process (the k-NN graph, k-means) therefore checks first, the
// way store.CheckFree checks disk space before a write, and fails with an
// error that names the need, the headroom and what bounds it.
//
// The headroom is the smallest of what the operating system reports:
// the system's available memory and free swap (/proc/meminfo), the
// limits of the memory cgroups the process is in (v1 or v2, every level up
// to the root), and the process's address-space and data limits
// (RLIMIT_AS, RLIMIT_DATA; ulimit -v and -d). Page cache counts as free
// in a cgroup, since the kernel reclaims it before it kills; the check is
// meant to refuse only work that cannot fit, never work that might.
package hostmem

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/store"
)

// Headroom is how many more bytes the process can allocate, and which
// bound sets it.
type Headroom struct {
	Bytes uint64
	Bound string // "the system's available memory and free swap (/proc/meminfo)", "the memory cgroup /a/b (memory.max 4.0 GiB)", ...
}

// ShortError is a need the headroom cannot meet. It is core.ErrOutOfMemory
// (errors.Is), so that the runner names the stage and the options to
// lower, as for an allocation that failed.
type ShortError struct {
	What string // what needs the memory: "the k-NN graph (60000 x 50 neighbours)"
	Need uint64
	Free Headroom
}

func (e *ShortError) Error() string {
	return fmt.Sprintf("%s needs about %s of memory but only %s is free (bounded by %s)",
		e.What, store.HumanBytes(e.Need), store.HumanBytes(e.Free.Bytes), e.Free.Bound)
}

// Is makes a ShortError core.ErrOutOfMemory.
func (e *ShortError) Is(target error) bool { return target == core.ErrOutOfMemory }

// Check returns a *ShortError when need bytes are more than the process
// can allocate now, and nil otherwise, or when nothing says how much is
// free (an operating system without /proc).
func Check(need uint64, what string) error {
	h, ok := Free()
	if !ok || need <= h.Bytes {
		return nil
	}
	return &ShortError{What: what, Need: need, Free: h}
}

// Free returns the process's headroom; false when no bound could be read.
func Free() (Headroom, bool) {
	var all []Headroom
	if h, ok := systemBound(); ok {
		all = append(all, h)
	}
	return smallest(append(all, limitBounds()...))
}

// smallest returns the first of the smallest bounds; false when none.
func smallest(bounds []Headroom) (Headroom, bool) {
	if len(bounds) == 0 {
		return Headroom{}, false
	}
	best := bounds[0]
	for _, h := range bounds[1:] {
		if h.Bytes < best.Bytes {
			best = h
		}
	}
	return best, true
}

// Need returns the short error in err's chain, if any.
func Need(err error) (*ShortError, bool) {
	var se *ShortError
	ok := errors.As(err, &se)
	return se, ok
}

// LimitGo sets the Go runtime's soft memory limit (debug.SetMemoryLimit)
// to what the Go runtime holds now plus the headroom that the memory
// cgroup and the process's limits leave, and returns it; it does nothing
// (false) when GOMEMLIMIT is set or no such bound exists. By default the
// collector lets the heap grow to twice what is live before it collects,
// so a stage whose live memory fits the headroom could still meet the
// bound with garbage; with the limit it collects first. The system's
// available memory is not a bound here: it moves with every other
// process, and Go's default is right when nothing limits the process.
func LimitGo() (uint64, bool) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	room, ok := smallest(limitBounds())
	if !ok {
		return 0, false
	}
	limit := GoMapped() + room.Bytes
	debug.SetMemoryLimit(int64(min(limit, math.MaxInt64)))
	return limit, true
}

// GoMapped is all the memory the Go runtime has mapped and not released.
func GoMapped() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}
