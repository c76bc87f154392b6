package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pluginProcesses lists running processes whose executable lies in dir.
func pluginProcesses(t *testing.T, dir string) []string {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		if strings.HasPrefix(exe, dir+"/plugins/") {
			out = append(out, e.Name()+" "+exe)
		}
	}
	return out
}

// TestInterruptStopsPlugins sends SIGINT to a running `clusterlab run`
// during training: the runner must exit promptly with status 130, say how
// to resume, and leave no plugin process behind.
func TestInterruptStopsPlugins(t *testing.T) {
	bin := buildBinaries(t)
	dir := t.TempDir()
	cfg := strings.Replace(smallConfig, "epochs: 3", "epochs: 200", 1)
	os.WriteFile(filepath.Join(dir, "long.yaml"), []byte(cfg), 0o644)
	cmd := exec.Command(filepath.Join(bin, "clusterlab"), "run", "long.yaml")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CLUSTERLAB_PLUGIN_PATH=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	var log strings.Builder
	training := false
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "temi: backend") {
			training = true
			break
		}
	}
	if !training {
		t.Fatalf("training never started:\n%s", log.String())
	}
	time.Sleep(500 * time.Millisecond)
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
		}
		close(done)
	}()
	err = cmd.Wait()
	<-done
	took := time.Since(sent)
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want status 130:\n%s", err, log.String())
	}
	if took > 10*time.Second {
		t.Errorf("took %v to stop after SIGINT", took)
	}
	if !strings.Contains(log.String(), "Run the same command again to resume") {
		t.Errorf("no resume hint:\n%s", log.String())
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := pluginProcesses(t, bin)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin processes left after SIGINT: %v", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
