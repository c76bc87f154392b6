package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestOutOfMemoryNamesStageAndOption runs a trial whose loss plugin really
// runs out of memory: the plugin runs under prlimit --as (a 4 GiB address
// space, inherited by nothing else), and its heads are too large for it
// (hidden_dim 2^26: the first layer alone is 24 GiB). The runner must exit
// 1 with one error that names the stage, the failed allocation and the
// option to lower; the same trial with a sensible hidden_dim then runs,
// reusing the embeddings the failed run cached.
func TestOutOfMemoryNamesStageAndOption(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("prlimit is Linux's")
	}
	prlimit := "/usr/bin/prlimit" // util-linux, essential in Debian
	if _, err := os.Stat(prlimit); err != nil {
		t.Fatalf("%s (util-linux) is needed to limit the plugin's memory: %v", prlimit, err)
	}
	bin := buildBinaries(t)
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "temi-limited")
	script := fmt.Sprintf("#!/bin/sh\nexec %s --as=%d -- %s \"$@\"\n", prlimit, int64(4)<<30,
		filepath.Join(bin, "plugins", "clusterlab-loss-temi"))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	huge := strings.Replace(smallConfig, "plugin: temi", "plugin: ./temi-limited", 1)
	huge = strings.Replace(huge, "hidden_dim: 64", "hidden_dim: 67108864", 1)
	huge = strings.Replace(huge, "experiment: e2e", "experiment: oom\ntrial: t", 1)
	if err := os.WriteFile(filepath.Join(dir, "huge.yaml"), []byte(huge), 0o644); err != nil {
		t.Fatal(err)
	}
	r := clusterlab(t, dir, nil, "run", "huge.yaml")
	if r.code != 1 {
		t.Fatalf("exit status %d, want 1:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"training (loss temi) ran out of memory",
		"an allocation of 24.0 GiB failed",
		"clusterlab: out of memory in training (loss temi): lower loss.batch_size (or loss.heads, loss.hidden_dim)",
		"run the same command again",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(l, "clusterlab: ") {
			t.Log(l) // the error and the hint, as a user sees them
		}
	}
	if n := strings.Count(r.stderr, "clusterlab: out of memory in"); n != 1 {
		t.Errorf("the hint appears %d times, want once:\n%s", n, r.stderr)
	}

	// The same trial with heads that fit: the embeddings come from the
	// cache the failed run filled.
	fits := strings.Replace(huge, "hidden_dim: 67108864", "hidden_dim: 64", 1)
	fits = strings.Replace(fits, "plugin: ./temi-limited", "plugin: temi", 1)
	if err := os.WriteFile(filepath.Join(dir, "fits.yaml"), []byte(fits), 0o644); err != nil {
		t.Fatal(err)
	}
	r = clusterlab(t, dir, nil, "run", "fits.yaml")
	if r.code != 0 {
		t.Fatalf("rerun with hidden_dim 64: exit status %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr+r.stdout, "cached") {
		t.Errorf("the rerun did not reuse the cached embeddings:\n%s", r.stderr)
	}
}

// TestOOMKilledPluginNamesStage runs a trial in a memory cgroup of its own
// (1 GiB, made under the test process's cgroup, v1 or v2) whose loss
// plugin needs more (hidden_dim 2^22: 1.5 GiB per copy of the first
// layer): the kernel's OOM killer kills the plugin with SIGKILL, and the
// runner must tell that from any other crash (the cgroup's oom_kill count
// rose) and name the stage and the option to lower, exit 1.
func TestOOMKilledPluginNamesStage(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("memory cgroups are Linux's")
	}
	cg, limitFiles := newMemoryCgroup(t, 1<<30)
	if cg == "" {
		t.Skip("LOUD SKIP: cannot create a memory cgroup here (needs root and a writable cgroup hierarchy); the OOM-killer path is untested on this machine (TestOutOfMemoryNamesStageAndOption still tests the out-of-memory message)")
	}
	t.Logf("memory cgroup %s (%v)", cg, limitFiles)
	dir := t.TempDir()
	cfg := strings.Replace(smallConfig, "hidden_dim: 64", "hidden_dim: 4194304", 1)
	cfg = strings.Replace(cfg, "experiment: e2e", "experiment: oomkill", 1)
	if err := os.WriteFile(filepath.Join(dir, "big.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := runnerCmd(t, dir, "run", "big.yaml")
	// The runner (and so its plugins) start inside the cgroup.
	// (Not a CLUSTERLAB_ variable: those are config keys.)
	args := append([]string{"sh", "-c", `echo $$ > "$TEST_MEMORY_CGROUP/cgroup.procs" && exec "$0" "$@"`, cmd.Path}, cmd.Args[1:]...)
	cmd.Path, cmd.Args = "/bin/sh", args
	cmd.Env = append(cmd.Env, "TEST_MEMORY_CGROUP="+cg)
	r := runCmd(t, cmd)
	if r.code != 1 {
		t.Fatalf("exit status %d, want 1:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"killed by the kernel's out-of-memory killer",
		"training (loss temi) ran out of memory",
		"clusterlab: out of memory in training (loss temi): lower loss.batch_size",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// newMemoryCgroup makes a memory cgroup limited to limit bytes (no swap)
// under this process's own, removed at the test's end once empty, and
// returns its directory and the files it set; "" where none can be made.
func newMemoryCgroup(t *testing.T, limit int64) (string, []string) {
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
		t.Cleanup(func() { removeCgroup(t, dir) })
		if ok {
			return dir, files
		}
	}
	return "", nil
}

// removeCgroup removes a test's cgroup once its processes are gone (the
// runner kills its plugins before it exits; a killed plugin's exit takes
// a moment to be accounted).
func removeCgroup(t *testing.T, dir string) {
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
