package tbevents_test

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core/tbevents"
	"github.com/clusterlab/clusterlab/internal/tbcheck"
)

// childEnv makes the test binary a writer that runs until it is killed
// (see TestKilledWriterLeavesReadableFile).
const childEnv = "TBEVENTS_TEST_KILLED_WRITER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(killedWriter(dir))
	}
	os.Exit(m.Run())
}

// killedWriter writes a scalar per millisecond and an image every 25
// steps into dir until the parent kills it.
func killedWriter(dir string) int {
	w, err := tbevents.Create(dir, tbevents.FlushInterval(20*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var img bytes.Buffer
	if err := png.Encode(&img, noiseImage(48, 48, 7)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tick := time.NewTicker(time.Millisecond)
	giveUp := time.After(2 * time.Minute) // never outlive a parent that died
	for step := int64(0); ; step++ {
		err := w.Scalar("loss", step, float64(step))
		if err == nil && step%25 == 0 {
			err = w.Image("sample", step, img.Bytes(), 48, 48)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		select {
		case <-tick.C:
		case <-giveUp:
			return 2
		}
	}
}

func TestKilledWriterLeavesReadableFile(t *testing.T) {
	pr := tbcheck.New(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	const reach = 300
	waitFor(t, 60*time.Second, "the writer's step 300 on disk", func() bool {
		recs, err := tbevents.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Kind == tbevents.KindScalar && r.Step >= reach {
				return true
			}
		}
		return false
	})
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred flush runs
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true
	if stderr.Len() > 0 {
		t.Fatalf("writer failed: %s", stderr.Bytes())
	}

	paths, err := tbevents.Files(dir)
	if err != nil || len(paths) != 1 {
		t.Fatalf("event files %v (%v), want one", paths, err)
	}
	f := pr.ReadFiles(t, paths[0])[0]
	if f.End != "eof" && f.End != "truncated" {
		t.Fatalf("reading the killed writer's file ended %s (%s), want a clean or truncated end", f.End, f.Detail)
	}
	tbcheck.CheckWellFormed(t, f)
	loss := tbcheck.Series(t, []tbcheck.File{f}, "loss")
	for s := int64(0); s < int64(len(loss)); s++ {
		if v, ok := loss[s]; !ok || *v.SimpleValue != float64(s) {
			t.Fatalf("step %d missing or wrong (%+v) among %d steps: the file must hold a prefix of what was written", s, v, len(loss))
		}
	}
	if len(loss) <= reach {
		t.Errorf("%d steps survived the kill, want more than %d (seen on disk before it)", len(loss), reach)
	}
	t.Logf("%d steps and %d images survived the kill; file ended %s", len(loss), len(tbcheck.Series(t, []tbcheck.File{f}, "sample")), f.End)
}
