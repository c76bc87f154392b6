package hostmem

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/clusterlab/clusterlab/core/store"
)

// unlimited is at or above what the kernel shows for "no limit" (v1
// prints 2^63 rounded down to a page; RLIM_INFINITY is 2^64-1).
const unlimited = uint64(1) << 62

// limitBounds are the bounds the process's own limits set: its memory
// cgroups and its rlimits.
func limitBounds() []Headroom {
	return append(cgroupBounds(), rlimitBounds()...)
}

// systemBound is MemAvailable plus SwapFree: what the kernel estimates it
// can hand out without swapping, plus the swap it can still swap to.
func systemBound() (Headroom, bool) {
	kv, err := readKeyValues(filepath.Join(procRoot, "meminfo"))
	if err != nil {
		return Headroom{}, false
	}
	avail, ok := kv["MemAvailable"]
	if !ok {
		return Headroom{}, false
	}
	return Headroom{Bytes: (avail + kv["SwapFree"]) * 1024, Bound: "the system's available memory and free swap (/proc/meminfo)"}, true
}

// rlimitBounds are the address-space and data-segment limits less what
// the process already has mapped.
func rlimitBounds() []Headroom {
	status, err := readKeyValues(filepath.Join(procRoot, "self", "status"))
	if err != nil {
		return nil
	}
	var out []Headroom
	for _, r := range []struct {
		res   int
		field string
		name  string
	}{
		{syscall.RLIMIT_AS, "VmSize", "the address-space limit (ulimit -v)"},
		{syscall.RLIMIT_DATA, "VmData", "the data-segment limit (ulimit -d)"},
	} {
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(r.res, &lim); err != nil || lim.Cur >= unlimited {
			continue
		}
		used, ok := status[r.field]
		if !ok {
			continue
		}
		out = append(out, Headroom{Bytes: sub(lim.Cur, used*1024), Bound: fmt.Sprintf("%s of %s", r.name, store.HumanBytes(lim.Cur))})
	}
	return out
}

// cgroupBounds are the limits of the memory cgroups the process is in,
// less what they hold that the kernel cannot reclaim (usage without the
// page cache). With cgroup v2 every level up to the root counts; v1
// reports its hierarchical limit itself.
func cgroupBounds() []Headroom {
	var out []Headroom
	for _, c := range MemoryCgroups() {
		if !c.V2 {
			if h, ok := cgroupV1(c.Path); ok {
				out = append(out, h)
			}
			continue
		}
		for dir := c.Path; ; dir = filepath.Dir(dir) {
			if h, ok := cgroupV2(dir); ok {
				out = append(out, h)
			}
			if dir == "/" || dir == "." || dir == "" {
				break
			}
		}
	}
	return out
}

func cgroupV2(rel string) (Headroom, bool) {
	dir := filepath.Join(cgroupRoot, rel)
	max, err := readUint(filepath.Join(dir, "memory.max"))
	if err != nil || max >= unlimited {
		return Headroom{}, false
	}
	current, err := readUint(filepath.Join(dir, "memory.current"))
	if err != nil {
		return Headroom{}, false
	}
	stat, _ := readKeyValues(filepath.Join(dir, "memory.stat"))
	used := sub(current, stat["file"])
	return Headroom{Bytes: sub(max, used), Bound: fmt.Sprintf("the memory cgroup %s (memory.max %s)", rel, store.HumanBytes(max))}, true
}

func cgroupV1(rel string) (Headroom, bool) {
	dir := filepath.Join(cgroupRoot, "memory", rel)
	stat, err := readKeyValues(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return Headroom{}, false
	}
	limit, ok := stat["hierarchical_memory_limit"]
	if !ok {
		if limit, err = readUint(filepath.Join(dir, "memory.limit_in_bytes")); err != nil {
			return Headroom{}, false
		}
	}
	if limit >= unlimited {
		return Headroom{}, false
	}
	usage, err := readUint(filepath.Join(dir, "memory.usage_in_bytes"))
	if err != nil {
		return Headroom{}, false
	}
	used := sub(usage, stat["total_cache"])
	return Headroom{Bytes: sub(limit, used), Bound: fmt.Sprintf("the memory cgroup %s (memory.limit_in_bytes %s)", rel, store.HumanBytes(limit))}, true
}

func sub(a, b uint64) uint64 {
	if b >= a {
		return 0
	}
	return a - b
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return ^uint64(0), nil
	}
	return strconv.ParseUint(s, 10, 64)
}
