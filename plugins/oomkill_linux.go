package plugins

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// oomKills returns how many processes the kernel's OOM killer has killed
// in this process's memory cgroup (the plugins stay in their runner's),
// and false where that cannot be read. cgroup v2 counts them in
// memory.events, v1 in memory.oom_control; both as "oom_kill N".
func oomKills() (int64, bool) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0, false
	}
	var files []string
	for _, line := range strings.Split(string(b), "\n") {
		// "hierarchy-ID:controllers:path"
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			files = append(files, filepath.Join("/sys/fs/cgroup", parts[2], "memory.events"))
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			files = append(files, filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.oom_control"))
		}
	}
	for _, name := range files {
		if n, ok := readOOMKill(name); ok {
			return n, true
		}
	}
	return 0, false
}

func readOOMKill(name string) (int64, bool) {
	f, err := os.Open(name)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "oom_kill "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
