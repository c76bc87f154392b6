package plugins

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
)

// install links a built test plugin into dir under the given file name.
func install(t *testing.T, dir, built, as string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, as)
	if err := os.Symlink(pluginPath(built), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// The search order, with a copy of the test binary acting as the runner so
// that "beside the executable" is a real directory:
// $CLUSTERLAB_PLUGIN_PATH (in order), <exe dir>/plugins, ./bin/plugins.
func TestFindSearchOrder(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	exeDir := filepath.Join(root, "opt", "bin")
	if err := os.MkdirAll(exeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(exeDir, "clusterlab")
	if err := copyFile(os.Args[0], exe); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(root, "work")
	envA, envB := filepath.Join(root, "envA"), filepath.Join(root, "envB")
	beside, local := filepath.Join(exeDir, "plugins"), filepath.Join(work, "bin", "plugins")
	const synth = "clusterlab-dataset-synth"
	// "a" only in ./bin/plugins; "b" also beside the executable; "c" also
	// in the second $CLUSTERLAB_PLUGIN_PATH entry; "d" in all four.
	for _, dir := range []string{local, beside, envB, envA} {
		install(t, dir, synth, "clusterlab-dataset-d")
	}
	for _, dir := range []string{local, beside, envB} {
		install(t, dir, synth, "clusterlab-dataset-c")
	}
	for _, dir := range []string{local, beside} {
		install(t, dir, synth, "clusterlab-dataset-b")
	}
	install(t, local, synth, "clusterlab-dataset-a")
	install(t, local, "clusterlab-loss-fake", "clusterlab-loss-x-y")
	// Not plugins, or not runnable: ignored.
	install(t, envA, synth, "clusterlab-widget-z")
	install(t, envA, synth, "clusterlab-dataset-")
	if err := os.WriteFile(filepath.Join(envA, "clusterlab-dataset-e"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(exe)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), hostModeEnv+"=find",
		PathEnv+"="+envA+string(os.PathListSeparator)+envB,
		"CLUSTERLAB_TEST_FIND=dataset/a dataset/b dataset/c dataset/d dataset/e loss/x-y backbone/nothing")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("host: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{
		"dataset/a found " + filepath.Join(local, "clusterlab-dataset-a"),
		"dataset/b found " + filepath.Join(beside, "clusterlab-dataset-b"),
		"dataset/c found " + filepath.Join(envB, "clusterlab-dataset-c"),
		"dataset/d found " + filepath.Join(envA, "clusterlab-dataset-d"),
		"loss/x-y found " + filepath.Join(local, "clusterlab-loss-x-y"),
		"discovered dataset/a " + filepath.Join(local, "clusterlab-dataset-a"),
		"discovered dataset/b " + filepath.Join(beside, "clusterlab-dataset-b"),
		"discovered dataset/c " + filepath.Join(envB, "clusterlab-dataset-c"),
		"discovered dataset/d " + filepath.Join(envA, "clusterlab-dataset-d"),
		"discovered loss/x-y " + filepath.Join(local, "clusterlab-loss-x-y"),
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("missing %q in the host's output:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "discovered "); n != 5 {
		t.Errorf("discovered %d plugins, want 5:\n%s", n, got)
	}
	// The errors list every place searched and say how to install.
	for _, kn := range []string{"dataset/e", "backbone/nothing"} {
		line := lineWithPrefix(got, kn+" error ")
		msg, err := strconv.Unquote(strings.TrimPrefix(line, kn+" error "))
		if err != nil {
			t.Fatalf("no error for %s in:\n%s", kn, got)
		}
		for _, want := range []string{envA + " (from $CLUSTERLAB_PLUGIN_PATH)", envB, beside + " (beside the executable)",
			local + " (./bin/plugins)", "make build", PathEnv} {
			if !strings.Contains(msg, want) {
				t.Errorf("error for %s does not mention %q:\n%s", kn, want, msg)
			}
		}
		if kn == "dataset/e" && !strings.Contains(msg, filepath.Join(envA, "clusterlab-dataset-e")+" but it is not executable") {
			t.Errorf("error does not point at the non-executable file:\n%s", msg)
		}
	}
}

func lineWithPrefix(text, prefix string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func copyFile(from, to string) error {
	if err := os.Link(from, to); err == nil {
		return nil
	}
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o755)
}

func TestFindExplicitPath(t *testing.T) {
	t.Parallel()
	p, err := Find(core.KindDataset, pluginPath("clusterlab-dataset-synth"))
	if err != nil || p != pluginPath("clusterlab-dataset-synth") {
		t.Fatalf("Find(explicit path) = %q, %v", p, err)
	}
	missing := filepath.Join(t.TempDir(), "clusterlab-dataset-gone")
	if _, err := Find(core.KindDataset, missing); err == nil || !IsInvalidInput(err) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Find(missing path): %v", err)
	}
	if _, err := Find("widget", "x"); err == nil || !strings.Contains(err.Error(), `unknown plugin kind "widget"`) {
		t.Fatalf("Find(bad kind): %v", err)
	}
	var nf *NotFoundError
	if _, err := Find(core.KindLoss, "surely-not-installed"); !errors.As(err, &nf) || !IsInvalidInput(err) {
		t.Fatalf("Find(unknown name): %v", err)
	}
}

func TestList(t *testing.T) {
	// Not parallel: it sets the environment and the working directory.
	dir := t.TempDir()
	install(t, dir, "clusterlab-dataset-synth", "clusterlab-dataset-synth")
	install(t, dir, "clusterlab-backbone-meanpix", "clusterlab-backbone-meanpix")
	install(t, dir, "clusterlab-loss-fake", "clusterlab-loss-fake")
	install(t, dir, "clusterlab-loss-garbage", "clusterlab-loss-garbage")
	t.Setenv(PathEnv, dir)
	t.Chdir(t.TempDir())
	listed, err := List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ kind, name, version, summary, path string }
	var got []row
	for _, l := range listed {
		got = append(got, row{l.Kind, l.Name, l.Version, l.Summary, l.Path})
		if (l.Err != nil) != (l.Name == "garbage") {
			t.Errorf("%s/%s: error %v", l.Kind, l.Name, l.Err)
		}
	}
	want := []row{
		{"dataset", "synth", "0.1.0", "synthetic images for tests", filepath.Join(dir, "clusterlab-dataset-synth")},
		{"backbone", "meanpix", "0.2.0", "mean pixel per channel, for tests", filepath.Join(dir, "clusterlab-backbone-meanpix")},
		{"loss", "fake", "1.0.0", "a loss that only pretends", filepath.Join(dir, "clusterlab-loss-fake")},
		{"loss", "garbage", "", "", filepath.Join(dir, "clusterlab-loss-garbage")},
	}
	if len(got) != len(want) {
		t.Fatalf("listed %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// Run by hand, a plugin says what it is in one line and exits with 1.
func TestPluginRunByHand(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(pluginPath("clusterlab-backbone-meanpix"))
	// No handshake cookie. (HOME is kept: without it a library linked into
	// every plugin, go-xla, logs a line at start-up.)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("run by hand: %v, want exit status 1", err)
	}
	want := "clusterlab-backbone-meanpix is a clusterlab backbone plugin: the clusterlab runner starts it (see `clusterlab plugins`); it is not meant to be run by hand.\n"
	if stderr.String() != want || stdout.Len() != 0 {
		t.Fatalf("stdout %q, stderr %q; want stderr %q", stdout.String(), stderr.String(), want)
	}
}

// A plugin that cannot listen (its socket path is too long) says so and
// exits with 1, instead of exiting silently with 0.
func TestPluginCannotListen(t *testing.T) {
	t.Parallel()
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 120))
	if err := os.MkdirAll(long, 0o755); err != nil {
		t.Skip("cannot create a long path:", err)
	}
	cmd := exec.Command(pluginPath("clusterlab-dataset-synth"))
	cmd.Env = append(os.Environ(), Handshake.MagicCookieKey+"="+Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS=1", "PLUGIN_UNIX_SOCKET_DIR="+long)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("plugin without a socket: %v, want exit status 1; stderr: %s", err, stderr.String())
	}
	for _, want := range []string{"plugin init error", "could not start serving the clusterlab plugin protocol"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// The host keeps socket paths short even when $TMPDIR is long.
func TestLaunchWithLongTempDir(t *testing.T) {
	// Not parallel: it sets TMPDIR.
	long := filepath.Join(t.TempDir(), strings.Repeat("t", 100))
	if err := os.MkdirAll(long, 0o755); err != nil {
		t.Skip("cannot create a long path:", err)
	}
	t.Setenv("TMPDIR", long)
	c := launch(t, core.KindDataset, "clusterlab-dataset-synth")
	if c.Description().Name != "synth" {
		t.Fatalf("launched %+v", c.Description())
	}
}
