package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Each test's runners (and so their plugins) get a temporary folder of
// their own, $TMPDIR, which must be empty when the test ends: a run
// leaves nothing behind there (no socket folder of go-plugin, no
// mat-debug-<pid>.log of ONNX Runtime's telemetry; see backend.PrepareOrt).
// Only a runner killed with SIGKILL may leave its plugins' socket folders,
// which nothing can remove; the folder goes with the test either way.
var runnerTmps struct {
	sync.Mutex
	dirs   map[*testing.T]string
	killed map[*testing.T]bool
}

// runnerTmp is t's runners' $TMPDIR, created on first use. Its path is
// short: it holds the plugins' Unix sockets.
func runnerTmp(t *testing.T) string {
	t.Helper()
	runnerTmps.Lock()
	defer runnerTmps.Unlock()
	if dir, ok := runnerTmps.dirs[t]; ok {
		return dir
	}
	dir, err := os.MkdirTemp("", "cl")
	if err != nil {
		t.Fatal(err)
	}
	if runnerTmps.dirs == nil {
		runnerTmps.dirs, runnerTmps.killed = map[*testing.T]string{}, map[*testing.T]bool{}
	}
	runnerTmps.dirs[t] = dir
	t.Cleanup(func() {
		runnerTmps.Lock()
		killed := runnerTmps.killed[t]
		delete(runnerTmps.dirs, t)
		delete(runnerTmps.killed, t)
		runnerTmps.Unlock()
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !killed || !strings.HasPrefix(e.Name(), "plugin-dir") {
				t.Errorf("the runs left %s in their TMPDIR", filepath.Join(dir, e.Name()))
			}
		}
		os.RemoveAll(dir)
	})
	return dir
}

// killsRunners says that t kills runners with SIGKILL, which leaves their
// plugins' socket folders in runnerTmp.
func killsRunners(t *testing.T) {
	runnerTmps.Lock()
	defer runnerTmps.Unlock()
	if runnerTmps.killed == nil {
		runnerTmps.dirs, runnerTmps.killed = map[*testing.T]string{}, map[*testing.T]bool{}
	}
	runnerTmps.killed[t] = true
}
