package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
	pb "github.com/clusterlab/clusterlab/plugins/proto"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func asPluginError(err error, pe **PluginError) bool { return errors.As(err, pe) }

// wantPluginError checks that err is one *PluginError naming the plugin,
// saying problem and quoting stderr lines.
func wantPluginError(t *testing.T, err error, kind, name, path, problem string, stderr ...string) *PluginError {
	t.Helper()
	var pe *PluginError
	if !asPluginError(err, &pe) {
		t.Fatalf("got %T %v, want a *PluginError", err, err)
	}
	msg := err.Error()
	head := kind + ` plugin "` + name + `" (` + path + `) `
	if !strings.HasPrefix(msg, head) {
		t.Fatalf("error does not start with %q:\n%s", head, msg)
	}
	if !strings.Contains(msg, problem) {
		t.Fatalf("error does not say %q:\n%s", problem, msg)
	}
	for _, s := range stderr {
		if !strings.Contains(pe.Stderr, s) || !strings.Contains(msg, "last lines of its stderr:\n  ") {
			t.Fatalf("error does not quote %q from the plugin's stderr:\n%s", s, msg)
		}
	}
	// A program that is not a plugin at all is the user's input (the
	// config names it): invalid input, exit 2. A plugin that fails is not.
	notAPlugin := strings.Contains(msg, "is not a clusterlab plugin")
	if IsInvalidInput(err) != notAPlugin {
		t.Fatalf("IsInvalidInput = %v for %v", IsInvalidInput(err), err)
	}
	return pe
}

func TestCrashDuringRead(t *testing.T) {
	t.Parallel()
	c := launch(t, core.KindDataset, "clusterlab-dataset-crasher")
	batches := 0
	err := c.Dataset().Read(context.Background(), core.ReadRequest{Split: "train", BatchSize: 10},
		func(core.ImageBatch) error { batches++; return nil })
	pe := wantPluginError(t, err, "dataset", "crasher", c.Path(), "exited during Read: exit status 2",
		"crasher: giving up after 2 batches", "crasher: noise line 30")
	if batches != 2 {
		t.Fatalf("received %d batches before the crash, want 2", batches)
	}
	if lines := strings.Split(pe.Stderr, "\n"); len(lines) != stderrTailLines || strings.Contains(pe.Stderr, "noise line 11\n") {
		t.Fatalf("stderr tail has %d lines, want the last %d:\n%s", len(lines), stderrTailLines, pe.Stderr)
	}
}

func TestPanicInRead(t *testing.T) {
	t.Parallel()
	t.Run("recovered in the handler", func(t *testing.T) {
		t.Parallel()
		c := launch(t, core.KindDataset, "clusterlab-dataset-crasher")
		err := c.Dataset().Read(context.Background(),
			core.ReadRequest{Options: core.Options{"mode": "panic"}, Split: "train", BatchSize: 10},
			func(core.ImageBatch) error { return nil })
		wantPluginError(t, err, "dataset", "crasher", c.Path(),
			"failed during Read: panic in /clusterlab.v1.Dataset/Read: crasher: deliberate panic in Read",
			"panic: crasher: deliberate panic in Read")
	})
	t.Run("in a goroutine", func(t *testing.T) {
		t.Parallel()
		c := launch(t, core.KindDataset, "clusterlab-dataset-crasher")
		err := c.Dataset().Read(context.Background(),
			core.ReadRequest{Options: core.Options{"mode": "goroutine-panic"}, Split: "train", BatchSize: 10},
			func(core.ImageBatch) error { return nil })
		// The panic's first line is kept in front of the stack's tail.
		wantPluginError(t, err, "dataset", "crasher", c.Path(), "exited during Read: exit status 2",
			"panic: crasher: deliberate panic in a goroutine")
	})
}

func TestHangingDescribe(t *testing.T) {
	t.Parallel()
	c := launch(t, core.KindBackbone, "clusterlab-backbone-hanger", WithDescribeTimeout(time.Second))
	start := time.Now()
	_, err := c.Backbone().Describe(context.Background(), core.Options{})
	wantPluginError(t, err, "backbone", "hanger", c.Path(), "did not answer Describe within 1s",
		"hanger: Describe will never answer")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the hang was reported after %v", d)
	}
}

func TestContextCancelStopsEmbed(t *testing.T) {
	t.Parallel()
	c := launch(t, core.KindBackbone, "clusterlab-backbone-hanger")
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once the plugin's Embed runs.
	embedding := make(chan bool, 1)
	go func() {
		embedding <- waitStderr(c, "hanger: embedding, waiting for cancellation", 30*time.Second)
		cancel()
	}()
	start := time.Now()
	err := c.Backbone().Embed(ctx, core.EmbedRequest{Split: "train"}, &plugintest.Batches{},
		func(core.EmbeddingBatch) error { return nil })
	if !<-embedding {
		t.Fatalf("the plugin never started embedding; its stderr: %q", c.Stderr())
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Embed after cancel: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Embed returned %v after the cancel", d)
	}
	// The cancellation reached the plugin's implementation.
	if !waitStderr(c, "hanger: embed cancelled: context canceled", 5*time.Second) {
		t.Fatalf("the plugin did not see the cancellation; its stderr: %q", c.Stderr())
	}
}

func TestNotAPlugin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("garbage on stdout", func(t *testing.T) {
		t.Parallel()
		path := pluginPath("clusterlab-loss-garbage")
		_, err := Launch(ctx, core.KindLoss, path)
		wantPluginError(t, err, "loss", "garbage", path,
			`is not a clusterlab plugin: it printed "hello, I am not a plugin" on stdout instead of the go-plugin handshake`,
			"notaplugin: about to print garbage")
	})
	t.Run("exits at once", func(t *testing.T) {
		t.Parallel()
		path := pluginPath("clusterlab-dataset-exit3")
		_, err := Launch(ctx, core.KindDataset, path)
		wantPluginError(t, err, "dataset", "exit3", path, "exit status 3", "notaplugin: exiting with status 3")
	})
	t.Run("true", func(t *testing.T) {
		t.Parallel()
		path, err := exec.LookPath("true")
		if err != nil {
			t.Skip("no true command")
		}
		_, err = Launch(ctx, core.KindBackbone, path)
		wantPluginError(t, err, "backbone", "true", path, "exit status 0")
	})
	t.Run("no handshake", func(t *testing.T) {
		t.Parallel()
		path := pluginPath("clusterlab-loss-silent")
		start := time.Now()
		_, err := Launch(ctx, core.KindLoss, path, WithStartTimeout(time.Second))
		wantPluginError(t, err, "loss", "silent", path, "did not complete the go-plugin handshake within 1s",
			"notaplugin: never shaking hands")
		if d := time.Since(start); d > 8*time.Second {
			t.Fatalf("the start timeout was reported after %v", d)
		}
	})
	t.Run("a script", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "clusterlab-dataset-script")
		script := "#!/bin/sh\necho 'this is a shell script' >&2\necho '1|1|unix|/nonexistent|netrpc'\nsleep 30\n"
		if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := Launch(ctx, core.KindDataset, path)
		wantPluginError(t, err, "dataset", "script", path, `failed to start: unsupported plugin protocol "netrpc"`,
			"this is a shell script")
	})
	t.Run("wrong kind", func(t *testing.T) {
		t.Parallel()
		path := pluginPath("clusterlab-dataset-synth")
		_, err := Launch(ctx, core.KindBackbone, path)
		wantPluginError(t, err, "backbone", "clusterlab-dataset-synth", path, "does not implement Describe: is it a backbone plugin?")
	})
}

func TestLaunchCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Launch(ctx, core.KindLoss, pluginPath("clusterlab-loss-silent"))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `loss plugin "silent"`) {
		t.Fatalf("Launch with an expiring context: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Launch returned %v after its context expired", d)
	}
}

func TestInvalidInputCrossesTheBoundary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ds := launch(t, core.KindDataset, "clusterlab-dataset-synth")

	_, err := ds.Dataset().Describe(ctx, core.Options{"count": 0})
	var oe *core.OptionError
	if !IsInvalidInput(err) || !errors.As(err, &oe) || oe.Key != "count" || oe.Msg != "0 is below the minimum 1" {
		t.Fatalf("bad option: %v (option error %+v)", err, oe)
	}
	if err.Error() != `option "count": 0 is below the minimum 1` {
		t.Fatalf("message changed on the way: %q", err)
	}

	err = ds.Dataset().Read(ctx, core.ReadRequest{Options: core.Options{}, Split: "validation", BatchSize: 5},
		func(core.ImageBatch) error { return nil })
	if !IsInvalidInput(err) || !errors.Is(err, core.ErrInvalidInput) ||
		err.Error() != `invalid input: unknown split "validation"; synth has train and test` {
		t.Fatalf("unknown split: %v", err)
	}

	// A plain failure of the implementation: message intact, not a
	// PluginError, not invalid input.
	loss := launch(t, core.KindLoss, "clusterlab-loss-fake")
	missing := filepath.Join(t.TempDir(), "nope.npy")
	_, err = loss.Loss().Fit(ctx, core.FitRequest{Options: core.Options{}, Train: missing, OutDir: t.TempDir()}, nil)
	var pe *PluginError
	if err == nil || err.Error() != "open train embeddings: open "+missing+": no such file or directory" ||
		IsInvalidInput(err) || asPluginError(err, &pe) {
		t.Fatalf("missing train file: %v", err)
	}

	// Errors of the caller's side are the caller's, not the plugin's.
	err = ds.Dataset().Read(ctx, core.ReadRequest{Options: core.Options{}, Split: "train", BatchSize: 5}, func(core.ImageBatch) error {
		return errors.New("disk full")
	})
	if err == nil || err.Error() != "disk full" {
		t.Fatalf("send error: %v", err)
	}
}

func TestKillAll(t *testing.T) {
	// Not parallel: KillAll kills every plugin of the test process.
	a := launch(t, core.KindDataset, "clusterlab-dataset-synth")
	b := launch(t, core.KindBackbone, "clusterlab-backbone-hanger")
	ctx := context.Background()
	embedErr := make(chan error, 1)
	go func() {
		embedErr <- b.Backbone().Embed(ctx, core.EmbedRequest{}, &plugintest.Batches{}, func(core.EmbeddingBatch) error { return nil })
	}()
	// KillAll while the plugin's Embed runs.
	if !waitStderr(b, "hanger: embedding, waiting for cancellation", 30*time.Second) {
		t.Fatalf("the plugin never started embedding; its stderr: %q", b.Stderr())
	}
	KillAll()
	KillAll()
	for _, c := range []*Client{a, b} {
		if !processGone(c.Pid()) {
			t.Fatalf("%s still runs after KillAll", c.Name())
		}
	}
	select {
	case err := <-embedErr:
		wantPluginError(t, err, "backbone", "hanger", b.Path(), "was stopped by KillAll during Embed")
	case <-time.After(5 * time.Second):
		t.Fatal("Embed did not return after KillAll")
	}
	// Launch works again afterwards.
	c := launch(t, core.KindDataset, "clusterlab-dataset-synth")
	if _, err := c.Dataset().Describe(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

// TestPinnedSHA256: a pinned plugin starts only when its executable has
// that checksum; otherwise Launch names both checksums, as invalid input.
func TestPinnedSHA256(t *testing.T) {
	path := pluginPath("clusterlab-dataset-synth")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	good := hex.EncodeToString(sum[:])
	c := launch(t, core.KindDataset, "clusterlab-dataset-synth", WithSHA256(strings.ToUpper(good)))
	if c.Description().Name != "synth" {
		t.Fatalf("pinned launch: %+v", c.Description())
	}
	ctx := context.Background()
	other := strings.Repeat("0", 64)
	_, err = Launch(ctx, core.KindDataset, path, WithSHA256(other))
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.Have != good || ce.Want != other || !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), good) {
		t.Fatalf("wrong pin: %v", err)
	}
	_, err = Launch(ctx, core.KindDataset, path, WithSHA256("abc"))
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "not 64 hex digits") {
		t.Fatalf("malformed pin: %v", err)
	}
}

// TestOnlyTheRunnerCanConnect: with AutoMTLS, a client without the
// runner's certificate cannot call the plugin, even on its own socket.
func TestOnlyTheRunnerCanConnect(t *testing.T) {
	c := launch(t, core.KindDataset, "clusterlab-dataset-synth")
	addr := c.pc.ReattachConfig().Addr
	conn, err := grpc.NewClient(addr.Network()+":"+addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = pb.NewDatasetClient(conn).Describe(ctx, &pb.DescribeRequest{})
	if err == nil {
		t.Fatalf("a plain connection to the plugin's socket %s was answered", addr)
	}
	// The runner's own connection works.
	if _, err := c.Dataset().Describe(ctx, nil); err != nil {
		t.Fatalf("the runner's connection: %v", err)
	}
}

// TestNoSocketFolderLeft: go-plugin's folder for a plugin's socket, in
// $TMPDIR, is gone after Kill whether the plugin served, failed to start
// or died. Not parallel: it sets $TMPDIR for the process.
func TestNoSocketFolderLeft(t *testing.T) {
	tmp, err := os.MkdirTemp("", "cl") // short: it holds sockets
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	t.Setenv("TMPDIR", tmp)
	left := func(when string) {
		t.Helper()
		entries, _ := os.ReadDir(tmp)
		for _, e := range entries {
			t.Errorf("%s: %s left in $TMPDIR", when, e.Name())
		}
	}
	ctx := context.Background()

	c := launch(t, core.KindDataset, "clusterlab-dataset-synth")
	c.Kill()
	left("after a plugin that served")

	_, err = Launch(ctx, core.KindDataset, pluginPath("clusterlab-dataset-exit3"))
	wantPluginError(t, err, "dataset", "exit3", pluginPath("clusterlab-dataset-exit3"), "exit status 3")
	left("after a plugin that exited at once")

	_, err = Launch(ctx, core.KindLoss, pluginPath("clusterlab-loss-silent"), WithStartTimeout(500*time.Millisecond))
	wantPluginError(t, err, "loss", "silent", pluginPath("clusterlab-loss-silent"), "did not complete the go-plugin handshake")
	left("after a plugin that never shook hands")

	c = launch(t, core.KindDataset, "clusterlab-dataset-synth")
	if err := syscall.Kill(c.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !waitGone(c.Pid(), 5*time.Second) {
		t.Fatal("the killed plugin still runs")
	}
	c.Kill()
	left("after a plugin killed with SIGKILL")

	// go-plugin creates the folder before it asks for the process, and
	// removes it in its Kill only when a process started: here the start
	// is refused (the pin, checked again right before the start, no longer
	// matches).
	c = &Client{kind: core.KindDataset, path: pluginPath("clusterlab-dataset-synth"), stderr: newTailBuffer(stderrKeep),
		cfg: launchConfig{pin: strings.Repeat("0", 64)}}
	c.pc = plugin.NewClient(c.clientConfig())
	dir, err := os.MkdirTemp(tmp, "plugin-dir")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.newRunner(nil, exec.Command(c.path), dir); err == nil {
		t.Fatal("a plugin whose pin does not match was started")
	}
	c.Kill()
	left("after a start refused by the pin")
}
