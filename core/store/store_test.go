package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core/npy"
)

func TestCommitLoadAndDamage(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := s.Entry("embeddings", Hash("a", "b"))
	if _, err := e.Load(); !errors.Is(err, ErrMissing) {
		t.Fatalf("want ErrMissing, got %v", err)
	}
	if err := npy.WriteFloat32(e.Path("train"), []float32{1, 2, 3, 4}, 2, 2); err != nil {
		t.Fatal(err)
	}
	// Not committed yet: still missing.
	if _, err := e.Load(); !errors.Is(err, ErrMissing) {
		t.Fatalf("uncommitted entry must read as missing, got %v", err)
	}
	if _, err := e.Commit(map[string]string{"split": "train"}, "train"); err != nil {
		t.Fatal(err)
	}
	m, err := e.Load()
	if err != nil || m.Arrays["train"].Shape[0] != 2 || m.Identity["split"] != "train" {
		t.Fatalf("%+v %v", m, err)
	}
	// Flip one data byte: checksum error.
	b, _ := os.ReadFile(e.Path("train"))
	b[len(b)-1] ^= 0xff
	os.WriteFile(e.Path("train"), b, 0o644)
	if _, err := e.Load(); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("want checksum error, got %v", err)
	}
	// Truncate: size error.
	os.WriteFile(e.Path("train"), b[:len(b)-4], 0o644)
	if _, err := e.Load(); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("want size error, got %v", err)
	}
	if err := e.Invalidate(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Load(); !errors.Is(err, ErrMissing) {
		t.Fatalf("want ErrMissing after Invalidate, got %v", err)
	}
}

func TestHashUnambiguous(t *testing.T) {
	if Hash("ab", "c") == Hash("a", "bc") {
		t.Fatal("hash must separate parts")
	}
}

func TestLockSerialises(t *testing.T) {
	s, _ := Open(t.TempDir())
	e := s.Entry("knn", Hash("x"))
	var mu sync.Mutex
	inside := 0
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := e.Lock()
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			if inside != 1 {
				t.Error("two holders of the lock at once")
			}
			mu.Unlock()
			mu.Lock()
			inside--
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
}

func TestOpenUnwritable(t *testing.T) {
	if os.Geteuid() == 0 {
		// root ignores permission bits; use a path under a file instead.
		f, _ := os.CreateTemp(t.TempDir(), "file")
		f.Close()
		if _, err := Open(f.Name() + "/cache"); err == nil {
			t.Fatal("want error for a cache under a file")
		}
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	if _, err := Open(dir); err == nil {
		t.Fatal("want error for unwritable cache")
	}
}

// waitFor bounds a wait for an event a test expects, so a broken lock
// fails the test instead of hanging it.
const waitFor = 30 * time.Second

func TestLockWaitTellsWhoItWaitsFor(t *testing.T) {
	host := hostname(t)
	s, _ := Open(t.TempDir())
	e := s.Entry("embeddings", Hash("wait"))
	unlock, err := e.Lock()
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan Holder, 1)
	got := make(chan error, 1)
	var unlock2 func()
	go func() {
		var err error
		unlock2, err = e.LockWait(context.Background(), func(h Holder) { waiting <- h })
		got <- err
	}()
	select {
	case h := <-waiting:
		if h.PID != os.Getpid() || h.Host != host || h.Since.IsZero() {
			t.Errorf("waiting for %+v, want this process on %s", h, host)
		}
		if want := fmt.Sprintf("process %d on %s since ", os.Getpid(), host); !strings.HasPrefix(h.String(), want) {
			t.Errorf("holder reads %q, want %q...", h, want)
		}
	case err := <-got:
		t.Fatalf("LockWait returned (%v) while the entry was locked", err)
	case <-time.After(waitFor):
		t.Fatal("onWait was not called")
	}
	select {
	case err := <-got:
		t.Fatalf("LockWait returned (%v) while the entry was locked", err)
	default:
	}
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("LockWait did not take the released lock")
	}
	unlock2()
}

func TestLockWaitFreeEntryDoesNotWait(t *testing.T) {
	s, _ := Open(t.TempDir())
	e := s.Entry("knn", Hash("free"))
	unlock, err := e.LockWait(context.Background(), func(h Holder) { t.Errorf("onWait(%v) for a free entry", h) })
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if h, err := LockHolder(e.Dir); err != nil || h.PID != os.Getpid() {
		t.Errorf("entry lock names %+v, %v; want this process", h, err)
	}
}

func TestLockWaitEndsWithContext(t *testing.T) {
	s, _ := Open(t.TempDir())
	e := s.Entry("knn", Hash("cancel"))
	unlock, err := e.Lock()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan error, 1)
	go func() {
		u, err := e.LockWait(ctx, func(Holder) { cancel() })
		if err == nil {
			u()
		}
		got <- err
	}()
	select {
	case err := <-got:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), e.Dir) {
			t.Errorf("LockWait after cancel: %v, want context.Canceled naming the entry", err)
		}
	case <-time.After(waitFor):
		t.Fatal("LockWait did not end with its context")
	}
	// The abandoned wait must not keep the lock once it comes free.
	unlock()
	again := make(chan error, 1)
	go func() {
		u, err := e.Lock()
		if err == nil {
			u()
		}
		again <- err
	}()
	select {
	case err := <-again:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("the entry stayed locked after an abandoned wait")
	}
}

// holdEntryEnv makes the test binary a helper that holds an entry's lock
// (the directory in the variable), says "locked" and keeps it until its
// stdin closes.
const holdEntryEnv = "CLUSTERLAB_STORE_TEST_HOLD_ENTRY"

func TestMain(m *testing.M) {
	if dir := os.Getenv(holdEntryEnv); dir != "" {
		unlock, err := Entry{Dir: dir}.Lock()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("locked")
		_, _ = io.Copy(io.Discard, os.Stdin)
		unlock()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Another process holds the entry: the waiter is told its pid and host,
// and takes the lock once that process ends (its lock dies with it).
func TestLockWaitForAnotherProcess(t *testing.T) {
	host := hostname(t)
	s, _ := Open(t.TempDir())
	e := s.Entry("embeddings", Hash("child"))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEntryEnv+"="+e.Dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	waiting := make(chan Holder, 1)
	got := make(chan error, 1)
	go func() {
		u, err := e.LockWait(context.Background(), func(h Holder) {
			waiting <- h
			stdin.Close() // let the holder go
		})
		if err == nil {
			u()
		}
		got <- err
	}()
	select {
	case h := <-waiting:
		if h.PID != cmd.Process.Pid || h.Host != host {
			t.Errorf("waiting for %+v, want process %d on %s", h, cmd.Process.Pid, host)
		}
	case err := <-got:
		t.Fatalf("LockWait returned (%v) while another process held the entry", err)
	case <-time.After(waitFor):
		t.Fatal("onWait was not called")
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("LockWait did not take the lock after its holder ended")
	}
}
