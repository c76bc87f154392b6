package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
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
