package hostmem

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procRoot and cgroupRoot are where Linux shows the process and its
// cgroups (variables for the tests of container layouts).
var (
	procRoot   = "/proc"
	cgroupRoot = "/sys/fs/cgroup"
)

// Cgroup is a memory cgroup of this process.
type Cgroup struct {
	Path string // within its hierarchy, as /proc/self/cgroup names it: "/a/b"
	V2   bool   // the unified hierarchy (else v1's memory controller)
}

// Dir is the folder of the cgroup's files.
func (c Cgroup) Dir() string {
	if c.V2 {
		return filepath.Join(cgroupRoot, c.Path)
	}
	return filepath.Join(cgroupRoot, "memory", c.Path)
}

// MemoryCgroups returns the process's memory cgroups, in the order
// /proc/self/cgroup lists them: its cgroup v2 and its v1 memory
// controller's, whichever the system has. A path that is not there is
// taken as the root of its hierarchy: a container without a cgroup
// namespace mounts its own cgroup there while /proc/self/cgroup names
// the host's path.
func MemoryCgroups() []Cgroup {
	b, err := os.ReadFile(filepath.Join(procRoot, "self", "cgroup"))
	if err != nil {
		return nil
	}
	var out []Cgroup
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		// "hierarchy-ID:controllers:path"
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var c Cgroup
		switch {
		case parts[0] == "0" && parts[1] == "":
			c = Cgroup{Path: parts[2], V2: true}
		case strings.Contains(","+parts[1]+",", ",memory,"):
			c = Cgroup{Path: parts[2]}
		default:
			continue
		}
		if _, err := os.Stat(c.Dir()); err != nil {
			c.Path = "/"
		}
		out = append(out, c)
	}
	return out
}

// OOMKills returns how many processes the kernel's OOM killer has killed
// in this process's memory cgroup, and false where that cannot be read.
// cgroup v2 counts them in memory.events, v1 in memory.oom_control, both
// as "oom_kill N".
func OOMKills() (int64, bool) {
	for _, c := range MemoryCgroups() {
		file := "memory.oom_control"
		if c.V2 {
			file = "memory.events"
		}
		kv, err := readKeyValues(filepath.Join(c.Dir(), file))
		if n, ok := kv["oom_kill"]; err == nil && ok {
			return int64(n), true
		}
	}
	return 0, false
}

// readKeyValues reads "key value [kB]" or "key: value [kB]" lines (the
// format of /proc/meminfo, /proc/self/status and memory.stat); values
// are as written (kB stays kB).
func readKeyValues(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			out[strings.TrimSuffix(f[0], ":")] = v
		}
	}
	return out, nil
}
