package plugins

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// pipeDrainGrace is how long the pipes of an exited plugin may stay open
// (held by a child it left behind) before they are closed anyway.
const pipeDrainGrace = 2 * time.Second

// process runs one plugin executable for go-plugin (it implements
// go-plugin's runner.Runner). It exists, instead of go-plugin's own
// command runner, to know the exit status as soon as the process ends, to
// tee stderr into the tail buffer before go-plugin sees it, and to set the
// parent-death signal.
type process struct {
	path   string
	env    []string
	stderr io.Writer // receives everything the plugin writes to stderr

	mu        sync.Mutex // guards cmd, pid, the readers and cancelled
	cmd       *exec.Cmd  // nil until started
	pid       int
	stdoutR   *os.File
	stderrR   *os.File
	cancelled bool // Kill came before Start

	stderrEOF chan struct{} // closed when stderr is drained
	exited    chan struct{} // closed when the process has ended
	state     string        // e.g. "exit status 2"; set before exited is closed
	waitErr   error
	killed    atomic.Bool // Kill was called while the process was running
	closePipe sync.Once
}

func newProcess(path string, env []string, stderr io.Writer) *process {
	return &process{
		path:      path,
		env:       env,
		stderr:    stderr,
		stderrEOF: make(chan struct{}),
		exited:    make(chan struct{}),
	}
}

func (p *process) Start(_ context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancelled {
		return errors.New("stopped before it started")
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		return err
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		stdoutR.Close()
		stdoutW.Close()
		return err
	}
	cmd := exec.Command(p.path)
	cmd.Env = p.env
	cmd.Stdout = stdoutW // *os.File: handed to the child as is, no copying goroutine
	cmd.Stderr = stderrW
	cmd.SysProcAttr = sysProcAttr()
	err = startCmd(cmd)
	stdoutW.Close()
	stderrW.Close()
	if err != nil {
		stdoutR.Close()
		stderrR.Close()
		return err
	}
	p.cmd, p.pid, p.stdoutR, p.stderrR = cmd, cmd.Process.Pid, stdoutR, stderrR
	go p.wait(cmd)
	return nil
}

func (p *process) wait(cmd *exec.Cmd) {
	p.waitErr = cmd.Wait()
	p.state = cmd.ProcessState.String()
	close(p.exited)
	// The readers drain what the plugin wrote well within the grace time,
	// but a child it left behind may hold the pipes open: do not let that
	// block the readers (and go-plugin's Kill, which waits for them).
	time.AfterFunc(pipeDrainGrace, p.closePipes)
}

func (p *process) closePipes() {
	p.closePipe.Do(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.stdoutR.Close()
		p.stderrR.Close()
	})
}

// Wait is called by go-plugin once it has read both pipes to the end.
func (p *process) Wait(ctx context.Context) error {
	select {
	case <-p.exited:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.closePipes()
	return p.waitErr
}

func (p *process) Kill(_ context.Context) error {
	p.mu.Lock()
	cmd := p.cmd
	if cmd == nil {
		p.cancelled = true
	}
	p.mu.Unlock()
	if cmd == nil || p.hasExited() {
		return nil
	}
	p.killed.Store(true)
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// started reports whether the process was started.
func (p *process) started() bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// processID returns the pid, 0 before the start.
func (p *process) processID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

func (p *process) hasExited() bool {
	if !p.started() {
		return false
	}
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// killedBySIGKILL reports whether the process has ended by a SIGKILL the
// runner did not send (the kernel's OOM killer, a user).
func (p *process) killedBySIGKILL() bool {
	return p != nil && p.hasExited() && p.state == "signal: killed" && !p.killed.Load()
}

// waitExit waits up to d for the process to end and then, briefly, for
// its stderr to be drained; it reports whether the process has ended.
func (p *process) waitExit(d time.Duration) bool {
	if !p.started() {
		return false
	}
	select {
	case <-p.exited:
	case <-time.After(d):
		return false
	}
	select {
	case <-p.stderrEOF:
	case <-time.After(time.Second):
	}
	return true
}

func (p *process) Stdout() io.ReadCloser {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdoutR
}

func (p *process) Stderr() io.ReadCloser {
	p.mu.Lock()
	defer p.mu.Unlock()
	return &teeReader{r: p.stderrR, w: p.stderr, eof: p.stderrEOF}
}

func (p *process) Name() string { return p.path }

func (p *process) ID() string {
	if pid := p.processID(); pid != 0 {
		return strconv.Itoa(pid)
	}
	return ""
}

func (p *process) Diagnose(context.Context) string { return "" }

func (p *process) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (p *process) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// teeReader copies what is read from r into w, and closes eof at the end:
// once eof is closed, w holds everything the plugin wrote to stderr.
type teeReader struct {
	r    *os.File
	w    io.Writer
	eof  chan struct{}
	once sync.Once
}

func (t *teeReader) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	if n > 0 {
		_, _ = t.w.Write(b[:n])
	}
	if err != nil {
		t.once.Do(func() { close(t.eof) })
	}
	return n, err
}

func (t *teeReader) Close() error { return t.r.Close() }
