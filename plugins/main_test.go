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
)

// The tests run real plugin processes, built once by TestMain from
// internal/testplugins into pluginDir.
var pluginDir string

// testPlugins maps each test plugin's package to the names it is
// installed under.
var testPlugins = map[string][]string{
	"synth":      {"clusterlab-dataset-synth"},
	"meanpix":    {"clusterlab-backbone-meanpix"},
	"fakeloss":   {"clusterlab-loss-fake"},
	"crasher":    {"clusterlab-dataset-crasher"},
	"hanger":     {"clusterlab-backbone-hanger"},
	"notaplugin": {"clusterlab-loss-garbage", "clusterlab-loss-silent", "clusterlab-dataset-exit3"},
}

// hostModeEnv makes the test binary act as a small runner (see runHost):
// the orphan and discovery tests need a separate host process.
const hostModeEnv = "CLUSTERLAB_TEST_HOST"

func TestMain(m *testing.M) {
	if mode := os.Getenv(hostModeEnv); mode != "" {
		os.Exit(runHost(mode))
	}
	dir, err := os.MkdirTemp("", "clusterlab-testplugins-")
	if err == nil {
		err = buildTestPlugins(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build test plugins:", err)
		os.Exit(1)
	}
	pluginDir = dir
	code := m.Run()
	KillAll()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildTestPlugins builds all test plugins with one go build (which
// compiles them in parallel) and installs them under their plugin names.
func buildTestPlugins(dir string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return err
	}
	out := filepath.Join(dir, "build")
	args := []string{"build", "-o", out + string(filepath.Separator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	for pkg := range testPlugins {
		args = append(args, "./internal/testplugins/"+pkg)
	}
	if err := os.Mkdir(out, 0o755); err != nil {
		return err
	}
	cmd := exec.Command(goTool, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	for pkg, names := range testPlugins {
		for _, n := range names {
			if err := os.Link(filepath.Join(out, pkg), filepath.Join(dir, n)); err != nil {
				return err
			}
		}
	}
	return nil
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
