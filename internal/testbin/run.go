package testbin

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core/backend"
)

// Result is a finished command's exit status and output.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs cmd to its end and returns its exit status and output; a
// command that cannot start fails tb.
func Run(tb testing.TB, cmd *exec.Cmd) Result {
	tb.Helper()
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		tb.Fatal(err)
	}
	return Result{code, so.String(), se.String()}
}

// RunnerCmd is `clusterlab args...` of the executables Build put in bin,
// to run in dir: plugins only from beside the runner
// ($CLUSTERLAB_PLUGIN_PATH empty), $TMPDIR tmp, and the ONNX Runtime
// library `make setup` installed (OrtEnv).
func RunnerCmd(bin, dir, tmp string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(bin, "clusterlab"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CLUSTERLAB_PLUGIN_PATH=", "TMPDIR="+tmp)
	cmd.Env = append(cmd.Env, OrtEnv()...)
	return cmd
}

// OrtEnv points a process at the ONNX Runtime library found here (none
// when there is none): executables built by Build live in a temporary
// folder, away from the project's .deps/onnxruntime where they would look.
func OrtEnv() []string {
	if lib, err := backend.FindOrtLibrary(); err == nil {
		return []string{backend.OrtLibEnv + "=" + lib}
	}
	return nil
}

// RunDir is the run directory a `clusterlab run` printed last ("run
// directory: R"), R joined to dir; "" when it printed none.
func RunDir(dir, stdout string) string {
	const mark = "run directory: "
	i := strings.LastIndex(stdout, mark)
	if i < 0 {
		return ""
	}
	return filepath.Join(dir, strings.TrimSpace(stdout[i+len(mark):]))
}
