package plugins

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/internal/testbin"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// exitState waits up to d for c's process to end and returns its state,
// such as "exit status 143" ("" if it still runs).
func exitState(t *testing.T, c *Client, d time.Duration) string {
	t.Helper()
	p := c.process()
	if !p.waitExit(d) {
		return ""
	}
	return p.state
}

// A plugin that receives SIGTERM itself (Slurm signals every process of a
// job) cancels its work call in progress, lets the implementation finish
// its cleanup, and exits with status 143; the runner's call fails naming
// the exit, with the plugin's account of how the call ended.
func TestSIGTERMStopsWorkCall(t *testing.T) {
	t.Parallel()
	c := launch(t, core.KindBackbone, "clusterlab-backbone-hanger")
	embedErr := make(chan error, 1)
	go func() {
		embedErr <- c.Backbone().Embed(context.Background(), core.EmbedRequest{Split: "train"}, &plugintest.Batches{},
			func(core.EmbeddingBatch) error { return nil })
	}()
	if !waitStderr(c, "hanger: embedding, waiting for cancellation", 30*time.Second) {
		t.Fatalf("the plugin never started embedding; its stderr: %q", c.Stderr())
	}
	if err := syscall.Kill(c.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := exitState(t, c, 5*time.Second); st != "exit status 143" {
		t.Fatalf("plugin after SIGTERM: %q, want exit status 143; its stderr: %q", st, c.Stderr())
	}
	// The implementation saw the cancellation and returned before the
	// process exited.
	for _, want := range []string{
		"SIGTERM received; stopping the 1 call(s) in progress",
		"hanger: embed cancelled: context canceled",
		"Embed ended after SIGTERM: context canceled",
	} {
		if !strings.Contains(c.Stderr(), want) {
			t.Errorf("plugin's stderr lacks %q: %q", want, c.Stderr())
		}
	}
	select {
	case err := <-embedErr:
		var pe *PluginError
		if !errors.As(err, &pe) || !strings.Contains(pe.Problem, "exit status 143") ||
			!strings.Contains(pe.Stderr, "Embed ended after SIGTERM") {
			t.Errorf("Embed after the plugin's SIGTERM: %v; want a PluginError naming exit status 143 and quoting the stop", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Embed did not return after the plugin exited")
	}
}

// A plugin waits for its work call's cleanup, however long (up to
// inflightGrace), before it exits on SIGTERM; a further SIGTERM does not cut
// the cleanup short (a job's processes may get more than one).
func TestSIGTERMWaitsForCleanup(t *testing.T) {
	t.Parallel()
	path := testbin.Path(t, testPlugin("slowstop", core.KindBackbone, "slowstop"))
	release := filepath.Join(t.TempDir(), "release")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Launch(ctx, core.KindBackbone, path, WithEnv("SLOWSTOP_RELEASE="+release))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Kill)
	embedErr := make(chan error, 1)
	go func() {
		embedErr <- c.Backbone().Embed(context.Background(), core.EmbedRequest{Split: "train"}, &plugintest.Batches{},
			func(core.EmbeddingBatch) error { return nil })
	}()
	if !waitStderr(c, "slowstop: embedding, waiting for cancellation", 30*time.Second) {
		t.Fatalf("the plugin never started embedding; its stderr: %q", c.Stderr())
	}
	if err := syscall.Kill(c.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The implementation sees its context cancelled because of SIGTERM.
	if !waitStderr(c, "slowstop: cancelled ("+errTerminated.Error()+"), cleaning up", 5*time.Second) {
		t.Fatalf("the plugin's Embed was not cancelled by SIGTERM; its stderr: %q", c.Stderr())
	}
	if err := syscall.Kill(c.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !waitStderr(c, "SIGTERM received again; still stopping", 5*time.Second) {
		t.Fatalf("the plugin did not note the second SIGTERM; its stderr: %q", c.Stderr())
	}
	if c.process().hasExited() {
		t.Fatalf("the plugin exited before its cleanup ended: %s; its stderr: %q", c.process().state, c.Stderr())
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if st := exitState(t, c, 5*time.Second); st != "exit status 143" {
		t.Fatalf("plugin after its cleanup: %q, want exit status 143; its stderr: %q", st, c.Stderr())
	}
	if !strings.Contains(c.Stderr(), "slowstop: cleanup done") || !strings.Contains(c.Stderr(), "Embed ended after SIGTERM: context canceled") {
		t.Errorf("the plugin exited without finishing its cleanup; its stderr: %q", c.Stderr())
	}
	select {
	case <-embedErr:
	case <-time.After(10 * time.Second):
		t.Fatal("Embed did not return after the plugin exited")
	}
}

// An idle plugin exits with status 143 at once on SIGTERM.
func TestSIGTERMIdlePluginExits(t *testing.T) {
	t.Parallel()
	c := launch(t, core.KindDataset, "clusterlab-dataset-synth")
	if _, err := c.Dataset().Describe(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if err := syscall.Kill(c.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := exitState(t, c, 5*time.Second); st != "exit status 143" {
		t.Fatalf("idle plugin after SIGTERM: %q, want exit status 143; its stderr: %q", st, c.Stderr())
	}
	// Far below the grace given to calls in progress.
	if took := time.Since(sent); took > inflightGrace/2 {
		t.Errorf("idle plugin took %v to exit after SIGTERM", took)
	}
	if !strings.Contains(c.Stderr(), "SIGTERM received; nothing in progress, exiting") {
		t.Errorf("plugin's stderr: %q", c.Stderr())
	}
}

// workCalls: SIGTERM cancels the calls in progress with cause
// errTerminated, not the others' parents; new calls are refused; wait
// waits for the calls to end and gives up after its bound.
func TestWorkCalls(t *testing.T) {
	t.Parallel()
	w := newWorkCalls()
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	ctx1, end1, ok1 := w.begin(parent)
	ctx2, end2, ok2 := w.begin(context.Background())
	if !ok1 || !ok2 {
		t.Fatal("begin refused a call before SIGTERM")
	}
	end2() // a call that ended before the signal
	if ctx2.Err() == nil {
		t.Error("an ended call's context is not released")
	}
	if context.Cause(ctx2) == errTerminated {
		t.Error("a call that ended before SIGTERM has SIGTERM as its cause")
	}
	if w.stopping() {
		t.Fatal("stopping before SIGTERM")
	}
	if n := w.terminate(); n != 1 {
		t.Errorf("terminate found %d calls in progress, want 1", n)
	}
	<-ctx1.Done()
	if !errors.Is(ctx1.Err(), context.Canceled) || !errors.Is(context.Cause(ctx1), errTerminated) {
		t.Errorf("call after SIGTERM: err %v, cause %v", ctx1.Err(), context.Cause(ctx1))
	}
	if parent.Err() != nil {
		t.Error("SIGTERM cancelled the call's parent context")
	}
	if !w.stopping() {
		t.Error("not stopping after SIGTERM")
	}
	if _, _, ok := w.begin(context.Background()); ok {
		t.Error("begin accepted a call after SIGTERM")
	}
	if w.wait(20 * time.Millisecond) {
		t.Error("wait returned true while a call is in progress")
	}
	done := make(chan bool)
	go func() { done <- w.wait(time.Minute) }()
	end1()
	if !<-done {
		t.Error("wait gave up although the call ended")
	}
}
