package plugins

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/internal/testbin"
)

// The tests run real plugin processes, built once by TestMain from
// internal/testplugins into pluginDir.
var pluginDir string

// testPlugins are the test plugins, each installed under its plugin name
// (notaplugin under three).
var testPlugins = []testbin.Target{
	testPlugin("synth", "dataset", "synth"),
	testPlugin("meanpix", "backbone", "meanpix"),
	testPlugin("fakeloss", "loss", "fake"),
	testPlugin("crasher", "dataset", "crasher"),
	testPlugin("hanger", "backbone", "hanger"),
	testPlugin("notaplugin", "loss", "garbage"),
	testPlugin("notaplugin", "loss", "silent"),
	testPlugin("notaplugin", "dataset", "exit3"),
}

func testPlugin(pkg, kind, name string) testbin.Target {
	return testbin.PluginAs("plugins/internal/testplugins/"+pkg, kind, name)
}

// hostModeEnv makes the test binary act as a small runner (see runHost):
// the orphan and discovery tests need a separate host process.
const hostModeEnv = "CLUSTERLAB_TEST_HOST"

// TestMain builds the test plugins (with -race under go test -race: a race
// report on a plugin's stderr fails the test) before the tests, and kills
// what they left running and removes the build afterwards.
func TestMain(m *testing.M) {
	if mode := os.Getenv(hostModeEnv); mode != "" {
		os.Exit(runHost(mode))
	}
	dir, err := testbin.Make(testPlugins...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build test plugins:", err)
		testbin.Cleanup()
		os.Exit(1)
	}
	pluginDir = filepath.Join(dir, "plugins")
	os.Exit(testbin.Main(m, KillAll))
}

// pluginPath is the path of a built test plugin.
func pluginPath(name string) string { return filepath.Join(pluginDir, name) }

// launch starts a test plugin and kills it at the end of the test.
func launch(t *testing.T, kind, name string, opts ...LaunchOption) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Launch(ctx, kind, pluginPath(name), opts...)
	if err != nil {
		t.Fatalf("launch %s: %v", name, err)
	}
	t.Cleanup(func() {
		c.Kill()
		if strings.Contains(c.Stderr(), "WARNING: DATA RACE") {
			t.Errorf("data race in plugin %s:\n%s", name, c.Stderr())
		}
	})
	return c
}

// processGone reports whether pid no longer runs (a zombie that nobody
// reaped counts as gone).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return os.IsNotExist(err)
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

// waitGone waits up to d for pid to be gone.
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if processGone(pid) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return processGone(pid)
}

// waitStderr waits up to d for the plugin to write want to its stderr.
func waitStderr(c *Client, want string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !strings.Contains(c.Stderr(), want) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// runHost is the test binary acting as a runner. Modes:
//
//	orphan   launch $CLUSTERLAB_TEST_PLUGIN, print "pid N", wait forever
//	sigterm  same, then on SIGTERM call KillAll (twice), check the plugin
//	         is gone, print "stopped", exit 0
//	find     print Find's answer for each kind/name of $CLUSTERLAB_TEST_FIND
//	         (space separated), then Discover's list
func runHost(mode string) int {
	if os.Getenv("CLUSTERLAB_TEST_NO_PDEATHSIG") == "1" {
		pdeathsig = false
	}
	switch mode {
	case "orphan", "sigterm":
		var stop chan os.Signal
		if mode == "sigterm" {
			stop = make(chan os.Signal, 1)
			signal.Notify(stop, syscall.SIGTERM)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := Launch(ctx, core.KindDataset, os.Getenv("CLUSTERLAB_TEST_PLUGIN"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "host:", err)
			return 1
		}
		fmt.Printf("pid %d\n", c.Pid())
		if stop == nil {
			select {}
		}
		<-stop
		KillAll()
		KillAll()
		if !processGone(c.Pid()) {
			fmt.Println("plugin still running")
			return 1
		}
		fmt.Println("stopped")
		return 0
	case "find":
		for _, kn := range strings.Fields(os.Getenv("CLUSTERLAB_TEST_FIND")) {
			kind, name, _ := strings.Cut(kn, "/")
			p, err := Find(kind, name)
			if err != nil {
				fmt.Printf("%s error %s\n", kn, strconv.Quote(err.Error()))
				continue
			}
			fmt.Printf("%s found %s\n", kn, p)
		}
		found, err := Discover()
		for _, f := range found {
			fmt.Printf("discovered %s/%s %s\n", f.Kind, f.Name, f.Path)
		}
		if err != nil {
			fmt.Printf("discover error %s\n", strconv.Quote(err.Error()))
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown host mode", mode)
	return 2
}

// startHost runs the test binary in a host mode; it returns the process,
// the lines it prints and its stderr.
func startHost(t *testing.T, mode string, env ...string) (*exec.Cmd, <-chan string, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), hostModeEnv+"="+mode), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return cmd, lines, stderr
}

// nextLine returns the next line a host printed.
func nextLine(t *testing.T, lines <-chan string, stderr *syncBuffer) string {
	t.Helper()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("host ended without printing the expected line; stderr: %s", stderr.String())
		}
		return line
	case <-time.After(30 * time.Second):
		t.Fatalf("host printed nothing within 30s; stderr: %s", stderr.String())
	}
	return ""
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
