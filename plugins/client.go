package plugins

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/hostmem"
)

// Default timeouts of Launch (see WithStartTimeout, WithDescribeTimeout).
const (
	DefaultStartTimeout    = 30 * time.Second
	DefaultDescribeTimeout = 60 * time.Second
)

const (
	// killGrace is how long Kill lets a plugin shut down by itself before
	// it is killed.
	killGrace = 5 * time.Second
	// exitWait is how long a failed call waits to learn whether the plugin
	// process died, which decides between "exited during" and "failed".
	exitWait = 3 * time.Second
)

// LaunchOption changes how Launch starts a plugin.
type LaunchOption func(*launchConfig)

type launchConfig struct {
	startTimeout    time.Duration
	describeTimeout time.Duration
	env             []string
	pin             string // the executable's pinned sha256 in hex; "": any
}

// WithSHA256 pins the plugin executable: Launch refuses to start a file
// whose sha256 differs (go-plugin's SecureConfig), with an error that gives
// both checksums. hexSum is the checksum in hex, as sha256sum prints it.
func WithSHA256(hexSum string) LaunchOption {
	return func(c *launchConfig) { c.pin = strings.ToLower(strings.TrimSpace(hexSum)) }
}

// ChecksumError is Launch's error for a plugin executable whose sha256 is
// not the one pinned.
type ChecksumError struct {
	Path       string
	Want, Have string // hex
}

func (e *ChecksumError) Error() string {
	if e.Have == "" {
		return fmt.Sprintf("the pinned sha256 %q of plugin %s is not 64 hex digits (sha256sum prints it)", e.Want, e.Path)
	}
	return fmt.Sprintf("plugin %s has sha256 %s, but the config pins %s: it is not the program you pinned (rebuilt, replaced or tampered with); check it, then update the pin or restore the file", e.Path, e.Have, e.Want)
}

// Is makes a checksum mismatch invalid input: the config or the file must
// change.
func (e *ChecksumError) Is(target error) bool { return target == core.ErrInvalidInput }

// WithStartTimeout bounds the time from starting the process to the end of
// the go-plugin handshake (default DefaultStartTimeout).
func WithStartTimeout(d time.Duration) LaunchOption {
	return func(c *launchConfig) { c.startTimeout = d }
}

// WithDescribeTimeout bounds every Describe call of the plugin, including
// the one Launch makes (default DefaultDescribeTimeout). A plugin that does
// not answer in time is reported as hung. The long calls (Read, Fit,
// Embed) have no timeout: cancel their context instead.
func WithDescribeTimeout(d time.Duration) LaunchOption {
	return func(c *launchConfig) { c.describeTimeout = d }
}

// WithEnv adds "KEY=value" entries to the plugin's environment (which is
// otherwise the runner's, plus GOMLX_NO_AUTO_INSTALL=1).
func WithEnv(kv ...string) LaunchOption {
	return func(c *launchConfig) { c.env = append(c.env, kv...) }
}

// Client is a running plugin process. Its Dataset, Backbone or Loss method
// (the one of its kind) returns the core interface implemented over gRPC.
// Kill it when done; KillAll kills every Client still running.
type Client struct {
	kind, name, path string
	cfg              launchConfig
	stderr           *tailBuffer
	oomKillsAtStart  int64 // the cgroup's OOM kills when the plugin started (hostmem.OOMKills)
	pc               *plugin.Client
	desc             core.Description
	killOnce         sync.Once

	mu        sync.Mutex
	proc      *process
	conn      *grpc.ClientConn
	stopped   string // why the client was stopped ("by Kill", ...); "" while live
	socketDir string // go-plugin's folder for the plugin's socket
}

// Launch finds the kind's plugin nameOrPath (see Find), starts it, checks
// the handshake and calls Describe without options to learn what it is.
// ctx bounds the start only; the process runs until Kill or KillAll.
// Failures are *PluginError values naming the plugin and quoting its
// stderr; a plugin that cannot be found gives Find's error.
func Launch(ctx context.Context, kind, nameOrPath string, opts ...LaunchOption) (*Client, error) {
	path, err := Find(kind, nameOrPath)
	if err != nil {
		return nil, err
	}
	cfg := launchConfig{startTimeout: DefaultStartTimeout, describeTimeout: DefaultDescribeTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	c := &Client{
		kind:   kind,
		name:   nameFromPath(kind, path),
		path:   path,
		cfg:    cfg,
		stderr: newTailBuffer(stderrKeep),
	}
	if cfg.pin != "" {
		if err := checkSHA256(path, cfg.pin); err != nil {
			return nil, err
		}
	}
	c.pc = plugin.NewClient(c.clientConfig())
	track(c)
	if err := c.start(ctx); err != nil {
		c.Kill()
		return nil, err
	}
	if err := c.describeAtLaunch(ctx); err != nil {
		c.Kill()
		return nil, err
	}
	return c, nil
}

func (c *Client) clientConfig() *plugin.ClientConfig {
	logger := hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Off, Output: io.Discard})
	var stdout io.Writer = io.Discard
	if debugEnabled() {
		logger = hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Debug, Output: os.Stderr})
		stdout = os.Stderr
	}
	return &plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          plugin.PluginSet{c.kind: &grpcPlugin{}},
		RunnerFunc:       c.newRunner,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     c.cfg.startTimeout,
		// The raw stderr reaches the tail buffer through process; what
		// the plugin writes through go-plugin's stdio stream lands there
		// too. Its stdout never mixes with the runner's.
		Stderr:           io.Discard,
		SyncStderr:       c.stderr,
		SyncStdout:       stdout,
		Logger:           logger,
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: socketBaseDir()},
		// Mutual TLS with one-time certificates, as Terraform's providers
		// use: only this runner can talk to the plugin, and it talks only
		// to the process it started, whoever else can reach the socket.
		AutoMTLS: true,
		// A single image that exceeds maxChunkBytes travels whole (a large
		// photo); gRPC's default 4 MiB receive limit would refuse it.
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes))},
	}
}

// checkSHA256 compares the executable's checksum with the pinned one (hex).
func checkSHA256(path, pin string) error {
	want, err := hex.DecodeString(pin)
	if err != nil || len(want) != sha256.Size {
		return &ChecksumError{Path: path, Want: pin}
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("check the sha256 of plugin %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("check the sha256 of plugin %s: %w", path, err)
	}
	if have := h.Sum(nil); !bytes.Equal(have, want) {
		return &ChecksumError{Path: path, Want: pin, Have: hex.EncodeToString(have)}
	}
	return nil
}

// maxSocketBase keeps the plugin's Unix socket path (base dir +
// "/plugin-dirNNNNNNNNNN/pluginNNNNNNNNNN") within the 108 bytes Linux
// allows: beyond that the plugin cannot listen at all.
const maxSocketBase = 64

// socketBaseDir is where go-plugin creates the plugin's socket directory:
// the temporary directory, unless its path is too long for a socket.
func socketBaseDir() string {
	dir := os.TempDir()
	if len(dir) <= maxSocketBase || runtime.GOOS == "windows" {
		return dir
	}
	return "/tmp"
}

// newRunner is go-plugin's RunnerFunc: cmd carries the environment
// go-plugin prepared (handshake cookie, socket directory).
func (c *Client) newRunner(_ hclog.Logger, cmd *exec.Cmd, socketDir string) (runner.Runner, error) {
	// go-plugin has created the socket folder; stop removes it.
	c.mu.Lock()
	c.socketDir = socketDir
	c.mu.Unlock()
	// A pinned checksum is checked again right before the start (what
	// go-plugin's SecureConfig does, which needs go-plugin to start the
	// command itself), narrowing the gap after Launch's first check.
	if c.cfg.pin != "" {
		if err := checkSHA256(c.path, c.cfg.pin); err != nil {
			return nil, err
		}
	}
	env := append(cmd.Env, "GOMLX_NO_AUTO_INSTALL=1")
	if _, set := os.LookupEnv("OMP_WAIT_POLICY"); !set {
		// The trainer's oneDNN products run on OpenMP (libgomp), whose
		// idle workers would otherwise spin for a few ms after each
		// product, on the cores the trainer's optimizer and the step graph
		// use next; libgomp reads this once, at process start.
		env = append(env, "OMP_WAIT_POLICY=passive")
	}
	env = append(env, c.cfg.env...)
	p := newProcess(c.path, env, c.stderr)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped != "" {
		return nil, fmt.Errorf("stopped %s before it started", c.stopped)
	}
	c.proc = p
	return p, nil
}

func (c *Client) start(ctx context.Context) error {
	c.oomKillsAtStart, _ = hostmem.OOMKills()
	type started struct {
		conn *grpc.ClientConn
		err  error
	}
	done := make(chan started, 1)
	go func() {
		rpc, err := c.pc.Client()
		if err != nil {
			done <- started{err: err}
			return
		}
		raw, err := rpc.Dispense(c.kind)
		if err != nil {
			done <- started{err: err}
			return
		}
		conn, ok := raw.(*grpc.ClientConn)
		if !ok {
			done <- started{err: fmt.Errorf("dispensed %T, want a gRPC connection", raw)}
			return
		}
		done <- started{conn: conn}
	}()
	var r started
	select {
	case r = <-done:
	case <-ctx.Done():
		c.stopStarting("because the launch was cancelled")
		<-done
		return fmt.Errorf("start %s plugin %q (%s): %w", c.kind, c.name, c.path, ctx.Err())
	}
	if r.err != nil {
		if reason := c.stoppedReason(); reason != "" {
			return c.pluginError("was stopped "+reason+" while starting", r.err)
		}
		return c.startError(r.err)
	}
	c.mu.Lock()
	c.conn = r.conn
	reason := c.stopped
	c.mu.Unlock()
	if reason != "" {
		return c.pluginError("was stopped "+reason+" while starting", nil)
	}
	return nil
}

// stopStarting marks the client stopped and kills its process directly:
// while the handshake runs, go-plugin's own Kill waits for it to end.
func (c *Client) stopStarting(reason string) {
	c.mu.Lock()
	if c.stopped == "" {
		c.stopped = reason
	}
	p := c.proc
	c.mu.Unlock()
	if p != nil {
		_ = p.Kill(context.Background())
	}
}

func (c *Client) describeAtLaunch(ctx context.Context) error {
	var (
		d   core.Description
		err error
	)
	switch c.kind {
	case core.KindDataset:
		var info core.DatasetInfo
		info, err = c.Dataset().Describe(ctx, nil)
		d = info.Description
	case core.KindBackbone:
		var info core.BackboneInfo
		info, err = c.Backbone().Describe(ctx, nil)
		d = info.Description
	case core.KindLoss:
		d, err = c.Loss().Describe(ctx, nil)
	}
	if err != nil {
		return err
	}
	if d.Kind != c.kind {
		return c.pluginError(fmt.Sprintf("describes itself as a %q plugin, not a %s plugin", d.Kind, c.kind), nil)
	}
	c.desc = d
	return nil
}

// Kind returns the plugin's kind (core.KindDataset, ...).
func (c *Client) Kind() string { return c.kind }

// Name returns the plugin's name: the <name> of clusterlab-<kind>-<name>,
// or the file name of an executable named otherwise.
func (c *Client) Name() string { return c.name }

// Path returns the plugin executable's absolute path.
func (c *Client) Path() string { return c.path }

// Description returns what the plugin said about itself at launch
// (Describe without options): name, version, summary, option schema.
func (c *Client) Description() core.Description { return c.desc }

// Pid returns the plugin's process id (0 if it never started).
func (c *Client) Pid() int {
	if p := c.process(); p != nil {
		return p.processID()
	}
	return 0
}

// Stderr returns the last few KiB the plugin wrote to stderr.
func (c *Client) Stderr() string { return c.stderr.String() }

// Kill stops the plugin: it asks it to shut down, and kills it when it has
// not within a few seconds. It returns when the process is gone. Calls on
// the plugin's adapters fail afterwards. Safe to call more than once and
// concurrently.
func (c *Client) Kill() { c.stop("by Kill") }

func (c *Client) stop(reason string) {
	c.mu.Lock()
	if c.stopped == "" {
		c.stopped = reason
	}
	starting := c.conn == nil
	c.mu.Unlock()
	c.killOnce.Do(func() {
		defer untrack(c)
		if starting {
			// Nothing to shut down gracefully, and go-plugin's Kill
			// would wait for the handshake.
			c.stopStarting(reason)
		}
		done := make(chan struct{})
		go func() {
			c.pc.Kill()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(killGrace):
			if p := c.process(); p != nil {
				_ = p.Kill(context.Background())
			}
			<-done
		}
		// go-plugin creates the socket folder before newRunner and its
		// Kill removes it only when a process started: this removes it
		// also after a start newRunner refused (a pin that no longer
		// matches, a stop before the start), once the process is gone.
		c.mu.Lock()
		dir := c.socketDir
		c.mu.Unlock()
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
	})
}

func (c *Client) process() *process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proc
}

func (c *Client) stoppedReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped
}

func (c *Client) grpcConn() *grpc.ClientConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// running tracks the live clients for KillAll.
var running struct {
	mu      sync.Mutex
	clients map[*Client]struct{}
}

func track(c *Client) {
	running.mu.Lock()
	defer running.mu.Unlock()
	if running.clients == nil {
		running.clients = make(map[*Client]struct{})
	}
	running.clients[c] = struct{}{}
}

func untrack(c *Client) {
	running.mu.Lock()
	defer running.mu.Unlock()
	delete(running.clients, c)
}

// KillAll kills every plugin launched by this process and not yet killed,
// including those still starting, in parallel, and returns when they are
// gone. It is meant for the runner's SIGINT/SIGTERM handler; safe to call
// more than once and concurrently with Launch (a launch it interrupts
// fails). Later Launches work as usual.
func KillAll() {
	running.mu.Lock()
	clients := make([]*Client, 0, len(running.clients))
	for c := range running.clients {
		clients = append(clients, c)
	}
	running.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.stop("by KillAll")
		}()
	}
	wg.Wait()
}

// pluginError builds the error that names the plugin and quotes its stderr.
func (c *Client) pluginError(problem string, err error) *PluginError {
	if p := c.process(); p != nil && !p.hasExited() {
		c.stderr.settle(200*time.Millisecond, 2*time.Second)
	}
	e := &PluginError{
		Kind:    c.kind,
		Name:    c.name,
		Path:    c.path,
		Problem: problem,
		Stderr:  c.stderr.Tail(stderrTailLines),
		Err:     err,
	}
	// A plugin that ran out of memory: its runtime said so on stderr
	// (anywhere in it: a Go fatal error prints its reason before the
	// stacks), or the kernel's OOM killer killed it (SIGKILL, and the
	// cgroup's oom_kill count went up since it started).
	oom, need := c.stderr.outOfMemory()
	switch {
	case oom:
		e.OutOfMemory = true
		if need > 0 && core.MemoryRequested(e.Stderr) == 0 {
			e.Stderr = fmt.Sprintf("(it failed to allocate %d bytes)\n%s", need, e.Stderr)
		}
	case c.process().killedBySIGKILL():
		if n, ok := hostmem.OOMKills(); ok && n > c.oomKillsAtStart {
			e.OutOfMemory = true
			e.Problem += " by the kernel's out-of-memory killer"
		}
	}
	return e
}

// startError explains a failed go-plugin handshake. go-plugin's messages
// are matched as worded in v1.8.0; anything else is quoted as is.
func (c *Client) startError(err error) error {
	msg := err.Error()
	p := c.process()
	// Wait for the process (go-plugin kills it on a failed start) so that
	// its exit status and all of its stderr are known.
	exited := p.waitExit(exitWait)
	bySelf := exited && !(p.killed.Load() && p.state == "signal: killed")
	var problem string
	switch {
	case strings.HasPrefix(msg, "Unrecognized remote plugin message: "):
		// The user pointed at a program that is not a plugin: bad input.
		err = fmt.Errorf("%w: %w", core.ErrInvalidInput, err)
		line, _, _ := strings.Cut(strings.TrimPrefix(msg, "Unrecognized remote plugin message: "), "\n")
		switch {
		case line != "":
			problem = fmt.Sprintf("is not a clusterlab plugin: it printed %q on stdout instead of the go-plugin handshake", truncate(line, 200))
		case bySelf:
			problem = fmt.Sprintf("is not a clusterlab plugin: it exited (%s) without the go-plugin handshake", p.state)
		default:
			problem = "is not a clusterlab plugin: it closed its stdout without the go-plugin handshake"
		}
	case strings.Contains(msg, "plugin exited before we could connect"):
		if bySelf {
			problem = fmt.Sprintf("exited during start-up (%s), before the go-plugin handshake", p.state)
		} else {
			problem = "exited during start-up, before the go-plugin handshake"
		}
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		problem = fmt.Sprintf("did not complete the go-plugin handshake within %s (is it a clusterlab plugin? is it stuck at start-up?)", c.cfg.startTimeout)
	case !p.started():
		problem = "could not be started: " + msg
	default:
		problem = "failed to start: " + msg
	}
	return c.pluginError(problem, err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// callError turns the error of an RPC into what the runner shows: the
// context's error when the call was cancelled, the plugin's own error
// (message intact) when its implementation failed, and a *PluginError when
// the plugin crashed, was stopped or broke the protocol.
func (c *Client) callError(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s plugin %q: %s: %w", c.kind, c.name, op, ctxErr)
	}
	if reason := c.stoppedReason(); reason != "" {
		return c.pluginError(fmt.Sprintf("was stopped %s during %s", reason, op), err)
	}
	p := c.process()
	st := status.Convert(err)
	switch st.Code() {
	case codes.InvalidArgument, codes.ResourceExhausted:
		// The implementation's own error: bad input, or a full disk.
		return remoteErrorFromStatus(st)
	case codes.Unknown:
		if !p.hasExited() {
			return remoteErrorFromStatus(st)
		}
	case codes.Unimplemented:
		return c.pluginError(fmt.Sprintf("does not implement %s: is it a %s plugin? (%s)", op, c.kind, st.Message()), err)
	case codes.Internal:
		if strings.HasPrefix(st.Message(), "panic in ") {
			return c.pluginError(fmt.Sprintf("failed during %s: %s", op, st.Message()), err)
		}
	}
	if p.waitExit(exitWait) {
		return c.pluginError(fmt.Sprintf("exited during %s: %s", op, p.state), err)
	}
	return c.pluginError(fmt.Sprintf("failed during %s: %s", op, st.Message()), err)
}

// protocolError reports a message that breaks the protocol.
func (c *Client) protocolError(op string, err error) error {
	return c.pluginError(fmt.Sprintf("sent a malformed answer to %s: %v", op, err), err)
}

// describe runs one Describe call under the describe timeout.
func (c *Client) describe(ctx context.Context, call func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.describeTimeout)
	defer cancel()
	err := call(cctx)
	// gRPC sends the deadline along, and the plugin's side may end the
	// call (RST_STREAM CANCEL) a moment before this side's own timer
	// fires: a call that fails within a hair of the deadline timed out.
	dl, _ := cctx.Deadline()
	timedOut := errors.Is(cctx.Err(), context.DeadlineExceeded) || time.Until(dl) < 100*time.Millisecond
	if err != nil && ctx.Err() == nil && timedOut {
		return c.pluginError(fmt.Sprintf("did not answer Describe within %s", c.cfg.describeTimeout), err)
	}
	return c.callError(ctx, "Describe", err)
}
