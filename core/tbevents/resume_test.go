package tbevents_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core/tbevents"
	"github.com/clusterlab/clusterlab/internal/tbcheck"
)

// writeAttempt writes one attempt's event file into dir: loss = base+step
// for steps from..to, and returns its path.
func writeAttempt(t *testing.T, dir string, from, to int64, base float64, extra func(w *tbevents.Writer) error) string {
	t.Helper()
	w, err := tbevents.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	for s := from; s <= to; s++ {
		if err := w.Scalar("loss", s, base+float64(s)); err != nil {
			t.Fatal(err)
		}
	}
	if extra != nil {
		if err := extra(w); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.Path()
}

func TestResumeDropsLaterStepsAndAppends(t *testing.T) {
	pr := tbcheck.New(t)
	dir := t.TempDir()

	// The first attempt ran to step 9; a second, started without Resume,
	// wrote steps 10..14 and was killed mid-record.
	first := writeAttempt(t, dir, 0, 9, 0, func(w *tbevents.Writer) error {
		if err := w.Text("notes", 5, "before"); err != nil {
			return err
		}
		if err := w.Histogram("weights", 8, []float64{1, 2, 3}); err != nil {
			return err
		}
		return w.Image("sample", 9, grayPNG(t, 2, 2), 2, 2)
	})
	second := writeAttempt(t, dir, 10, 14, 0, nil)
	b, err := os.ReadFile(second)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(second, b[:len(b)-7], 0o644); err != nil {
		t.Fatal(err)
	}
	// What a Resume killed before its rename leaves.
	stale := filepath.Join(dir, ".tbevents-resume-123.tmp")
	if err := os.WriteFile(stale, []byte("half a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := map[string][]byte{}
	for _, p := range []string{first, second} {
		if saved[p], err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}

	// Resume from a checkpoint after step 6, then put the old files back:
	// the state of a Resume killed between its rename and the removal of
	// the old files. Resuming again must not duplicate the kept steps.
	w, err := tbevents.Resume(dir, 6)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if filepath.Base(w.Path()) <= filepath.Base(second) {
		t.Errorf("resumed file %s sorts before the old %s: TensorBoard would not follow it", filepath.Base(w.Path()), filepath.Base(second))
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file still there (%v)", err)
	}
	for p, b := range saved {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if paths, _ := tbevents.Files(dir); len(paths) != 3 {
		t.Fatalf("setup: %d event files, want 3", len(paths))
	}

	w, err = tbevents.Resume(dir, 6)
	if err != nil {
		t.Fatal(err)
	}
	for s := int64(7); s <= 12; s++ {
		if err := w.Scalar("loss", s, 100+float64(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Text("notes", 8, "after"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	paths, err := tbevents.Files(dir)
	if err != nil || len(paths) != 1 || paths[0] != w.Path() {
		t.Fatalf("event files after Resume: %v (%v), want only %s", paths, err, w.Path())
	}
	files := pr.ReadCleanFiles(t, paths...)
	loss := tbcheck.Series(t, files, "loss")
	if len(loss) != 13 {
		t.Errorf("loss has %d steps, want 0..12", len(loss))
	}
	for s := int64(0); s <= 12; s++ {
		want := float64(s)
		if s > 6 {
			want = 100 + float64(s)
		}
		if v, ok := loss[s]; !ok || v.SimpleValue == nil || *v.SimpleValue != want {
			t.Errorf("loss at step %d: %+v, want %v", s, v, want)
		}
	}
	notes := tbcheck.Series(t, files, "notes")
	if len(notes) != 2 || notes[5].Tensor == nil || notes[5].Tensor.StringVal[0] != "before" || notes[5].PluginName != "text" ||
		notes[8].Tensor == nil || notes[8].Tensor.StringVal[0] != "after" {
		t.Errorf("notes: %+v, want step 5 before (kept, still a text value) and step 8 after", notes)
	}
	if h, img := tbcheck.Series(t, files, "weights"), tbcheck.Series(t, files, "sample"); len(h) != 0 || len(img) != 0 {
		t.Errorf("histogram at step 8 and image at step 9 of the killed attempt survived: %d, %d", len(h), len(img))
	}

	// The package's reader sees the same.
	recs, err := tbevents.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+13+2 {
		t.Errorf("ReadDir: %d records, want 16", len(recs))
	}
}

func TestResumeOfNothingCreates(t *testing.T) {
	pr := tbcheck.New(t)
	dir := filepath.Join(t.TempDir(), "new")
	w, err := tbevents.Resume(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Scalar("loss", 1, 2); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files := pr.ReadCleanFiles(t, w.Path())
	if v := tbcheck.Series(t, files, "loss")[1]; v.SimpleValue == nil || *v.SimpleValue != 2 {
		t.Errorf("loss at step 1: %+v", v)
	}
}

func TestResumeKeepsNothingBelowZero(t *testing.T) {
	dir := t.TempDir()
	writeAttempt(t, dir, 0, 3, 0, nil)
	w, err := tbevents.Resume(dir, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := tbevents.ReadDir(dir)
	if err != nil || len(recs) != 1 || recs[0].Kind != tbevents.KindFileVersion {
		t.Errorf("after Resume(-1): %+v (%v), want only a file version record", recs, err)
	}
}

// TensorBoard reads a directory's files in name order and follows the
// last, so a new file must sort after the existing ones even when another
// host's or process's name, or a clock that went back, would sort later.
func TestNewFileSortsLast(t *testing.T) {
	now := time.Now().Unix()
	for _, other := range []string{
		fmt.Sprintf("events.out.tfevents.%010d.zzzz-other-host.1.1", now),
		fmt.Sprintf("events.out.tfevents.%010d.a.1.1", now+1000),
	} {
		for _, resume := range []bool{false, true} {
			dir := t.TempDir()
			src := writeAttempt(t, dir, 0, 2, 0, nil)
			if err := os.Rename(src, filepath.Join(dir, other)); err != nil {
				t.Fatal(err)
			}
			var w *tbevents.Writer
			var err error
			if resume {
				w, err = tbevents.Resume(dir, 1)
			} else {
				w, err = tbevents.Create(dir)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if name := filepath.Base(w.Path()); name <= other || !nameRE.MatchString(name) {
				t.Errorf("resume %v: new file %s does not sort after %s", resume, name, other)
			}
		}
	}
}
