package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// exitTerminated is the exit status of a plugin stopped by SIGTERM: 128+15,
// what a shell (and Slurm's accounting) reports for that signal.
const exitTerminated = 128 + 15

// errTerminated is the cause of the cancellation of work calls stopped by
// the plugin's own SIGTERM (context.Cause of their contexts).
var errTerminated = errors.New("the plugin process received SIGTERM")

// workCalls tracks the streaming work calls (Read, Fit, Embed) in progress
// so that the plugin can stop them: on SIGTERM it cancels them and waits
// for them to wind down (a trainer writes its checkpoint on cancellation),
// and when the runner stops it, it lets them finish their cleanup.
//
// Why the plugin handles SIGTERM itself: Slurm (scancel, preemption, the
// time limit) signals every process of a job, the plugins as well as the
// runner. Go's default action on SIGTERM ends the process at once, which
// would lose the work since the last periodic checkpoint.
type workCalls struct {
	mu     sync.Mutex
	n      int  // calls in progress
	closed bool // no new calls: the process is stopping
	wg     sync.WaitGroup
	stop   context.Context // cancelled on SIGTERM
	cancel context.CancelCauseFunc
}

// work is the process's work calls: a plugin process serves one plugin.
var work = newWorkCalls()

func newWorkCalls() *workCalls {
	w := &workCalls{}
	w.stop, w.cancel = context.WithCancelCause(context.Background())
	return w
}

// begin registers a call whose context is ctx. It returns the context the
// call must run under (ctx, also cancelled on SIGTERM) and end, to call
// when the call has returned; ok is false when the process is stopping and
// takes no new work.
func (w *workCalls) begin(ctx context.Context) (_ context.Context, end func(), ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, nil, false
	}
	w.n++
	w.wg.Add(1)
	cctx, cancel := context.WithCancelCause(ctx)
	stopAfter := context.AfterFunc(w.stop, func() { cancel(context.Cause(w.stop)) })
	return cctx, func() {
		stopAfter()
		cancel(context.Canceled)
		w.mu.Lock()
		w.n--
		w.mu.Unlock()
		w.wg.Done()
	}, true
}

// stopping reports whether SIGTERM cancelled the work calls.
func (w *workCalls) stopping() bool { return w.stop.Err() != nil }

// terminate refuses new calls, cancels those in progress with cause
// errTerminated and returns how many there are.
func (w *workCalls) terminate() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	w.cancel(errTerminated)
	return w.n
}

// wait refuses new calls and waits up to d for those in progress to
// return; it reports whether they all did.
func (w *workCalls) wait(d time.Duration) bool {
	w.mu.Lock()
	w.closed = true // no Add may race with Wait from here on
	w.mu.Unlock()
	finished := make(chan struct{})
	go func() { w.wg.Wait(); close(finished) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-finished:
		return true
	case <-t.C:
		return false
	}
}

// handleSIGTERM makes the process stop its work gracefully on SIGTERM: it
// cancels the work calls in progress, waits up to grace for them to return
// (their handlers return only after their cleanup, such as the trainer's
// checkpoint), and exits with status exitTerminated; at once when nothing
// is in progress.
//
// A further SIGTERM is ignored, unlike a second interrupt of the runner: a
// job's processes may be sent SIGTERM more than once for one stop (by
// Slurm, and by an srun that forwards it), and exiting then would lose the
// checkpoint being written. Slurm's SIGKILL follows after KillWait anyway.
// SIGINT is left to go-plugin, which ignores it: a Ctrl-C in a terminal
// reaches the plugins too, and the runner stops them itself.
func handleSIGTERM(w *workCalls, grace time.Duration, stderr io.Writer, exe string) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGTERM)
	go func() {
		<-ch
		n := w.terminate()
		if n == 0 {
			fmt.Fprintf(stderr, "%s: SIGTERM received; nothing in progress, exiting\n", exe)
			os.Exit(exitTerminated)
		}
		fmt.Fprintf(stderr, "%s: SIGTERM received; stopping the %d call(s) in progress (a trainer saves its checkpoint), then exiting\n", exe, n)
		go func() {
			for range ch {
				fmt.Fprintf(stderr, "%s: SIGTERM received again; still stopping (SIGKILL stops at once)\n", exe)
			}
		}()
		if !w.wait(grace) {
			fmt.Fprintf(stderr, "%s: the calls in progress did not stop within %v of SIGTERM; exiting anyway\n", exe, grace)
		}
		os.Exit(exitTerminated)
	}()
}
