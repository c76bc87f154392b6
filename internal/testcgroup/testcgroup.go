// Package testcgroup makes memory cgroups for tests that need a process
// to really run out of memory (the kernel's OOM killer, a cgroup's limit
// as the bound of what a process may allocate).
package testcgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// New makes a memory cgroup limited to limit bytes (no swap)
// under this process's own, removed at the test's end once empty, and
// returns its directory and the files it set; "" where none can be made.
func New(t *testing.T, limit int64) (string, []string) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", nil
	}
	name := fmt.Sprintf("clusterlab-test-%d", os.Getpid())
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir string
		var set map[string]string
		switch {
		case parts[0] == "0" && parts[1] == "":
			dir = filepath.Join("/sys/fs/cgroup", parts[2], name)
			set = map[string]string{"memory.max": fmt.Sprint(limit), "memory.swap.max": "0"}
		case strings.Contains(","+parts[1]+",", ",memory,"):
			dir = filepath.Join("/sys/fs/cgroup/memory", parts[2], name)
			set = map[string]string{"memory.limit_in_bytes": fmt.Sprint(limit)}
		default:
			continue
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			continue
		}
		ok := true
		var files []string
		for f, v := range set {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
				if f == "memory.swap.max" && os.IsNotExist(err) {
					continue // no swap accounting: nothing to limit
				}
				ok = false
				break
			}
			files = append(files, f)
		}
		t.Cleanup(func() { remove(t, dir) })
		if ok {
			return dir, files
		}
	}
	return "", nil
}

// remove removes a test's cgroup once its processes are gone (the
// runner kills its plugins before it exits; a killed plugin's exit takes
// a moment to be accounted).
func remove(t *testing.T, dir string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := os.Remove(dir)
		if err == nil || os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("remove the test's cgroup %s: %v", dir, err)
			return
		}
		procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if len(strings.TrimSpace(string(procs))) == 0 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Millisecond) // poll until the kernel has reaped them
		}
	}
}
