// Package testcgroup makes memory cgroups for tests that need a process
// to really run out of memory (the kernel's OOM killer, a cgroup's limit
// as the bound of what a process may allocate).
package testcgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core/hostmem"
)

// New makes a memory cgroup limited to limit bytes (no swap) under this
// process's own, removed at the test's end once empty, and returns its
// directory; "" where none can be made.
func New(t *testing.T, limit int64) string {
	name := fmt.Sprintf("clusterlab-test-%d", os.Getpid())
	for _, c := range hostmem.MemoryCgroups() {
		dir := filepath.Join(c.Dir(), name)
		set := map[string]string{"memory.limit_in_bytes": fmt.Sprint(limit)}
		if c.V2 {
			set = map[string]string{"memory.max": fmt.Sprint(limit), "memory.swap.max": "0"}
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			continue
		}
		ok := true
		for f, v := range set {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
				if f == "memory.swap.max" && os.IsNotExist(err) {
					continue // no swap accounting: nothing to limit
				}
				ok = false
				break
			}
		}
		t.Cleanup(func() { remove(t, dir) })
		if ok {
			return dir
		}
	}
	return ""
}

// Enter makes cmd start inside the cgroup dir (a shell moves itself
// there, then execs cmd), so that cmd and its children run under its
// limit. (TEST_MEMORY_CGROUP, not a CLUSTERLAB_ variable: those are
// config keys.)
func Enter(cmd *exec.Cmd, dir string) {
	cmd.Args = append([]string{"/bin/sh", "-c", `echo $$ > "$TEST_MEMORY_CGROUP/cgroup.procs" && exec "$0" "$@"`, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = "/bin/sh"
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "TEST_MEMORY_CGROUP="+dir)
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
