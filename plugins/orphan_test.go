package plugins

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// host is a test host process and the plugin it launched.
type host struct {
	cmd    *exec.Cmd
	lines  <-chan string
	stderr *syncBuffer
	plugin int // pid
}

// startPluginHost starts a host in mode, launching the synth plugin.
func startPluginHost(t *testing.T, mode string, env ...string) host {
	t.Helper()
	// A SIGKILLed host cannot remove go-plugin's socket directory: keep it
	// in a directory of the test (with a short path: it holds a socket).
	tmp, err := os.MkdirTemp("", "cl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	env = append(env, "CLUSTERLAB_TEST_PLUGIN="+pluginPath("clusterlab-dataset-synth"), "TMPDIR="+tmp)
	cmd, lines, stderr := startHost(t, mode, env...)
	line := nextLine(t, lines, stderr)
	pidText, ok := strings.CutPrefix(line, "pid ")
	pid, err := strconv.Atoi(pidText)
	if !ok || err != nil || pid <= 0 {
		t.Fatalf("host printed %q, want \"pid N\"; stderr: %s", line, stderr.String())
	}
	if processGone(pid) {
		t.Fatalf("plugin pid %d is not running right after launch", pid)
	}
	t.Cleanup(func() {
		if !processGone(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return host{cmd: cmd, lines: lines, stderr: stderr, plugin: pid}
}

// The runner never leaves orphans: when it is SIGKILLed its plugins go
// within 5 s, through the parent-death signal and, independently, through
// the plugin's own watch of its parent.
func TestOrphanPluginExitsWhenHostIsKilled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"pdeathsig and parent watch", nil},
		{"parent watch only", []string{"CLUSTERLAB_TEST_NO_PDEATHSIG=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := startPluginHost(t, "orphan", tc.env...)
			if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = h.cmd.Wait()
			start := time.Now()
			if !waitGone(h.plugin, 5*time.Second) {
				t.Fatalf("plugin %d still runs 5s after its host was killed", h.plugin)
			}
			t.Logf("plugin gone %v after the host was killed", time.Since(start).Round(time.Millisecond))
		})
	}
}

// SIGTERM to the runner stops its plugins through KillAll (called twice).
// The parent-death signal is off so that only KillAll can stop the plugin
// while the host still runs.
func TestSigtermHostStopsPlugins(t *testing.T) {
	t.Parallel()
	h := startPluginHost(t, "sigterm", "CLUSTERLAB_TEST_NO_PDEATHSIG=1")
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if line := nextLine(t, h.lines, h.stderr); line != "stopped" {
		t.Fatalf("host printed %q after SIGTERM, want \"stopped\"; stderr: %s", line, h.stderr.String())
	}
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("host: %v; stderr: %s", err, h.stderr.String())
	}
	if !processGone(h.plugin) {
		t.Fatalf("plugin %d still runs after the host's KillAll", h.plugin)
	}
}
