package tbevents_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core/tbevents"
	"github.com/clusterlab/clusterlab/internal/tbcheck"
)

// contents describes every summary value of files by "tag@step", failing
// on a (tag, step) written twice.
func contents(t *testing.T, files []tbcheck.File) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range files {
		for _, rec := range f.Records {
			for _, v := range rec.Values {
				key := fmt.Sprintf("%s@%d", v.Tag, rec.Step)
				var desc string
				switch {
				case v.SimpleValue != nil:
					desc = fmt.Sprint(*v.SimpleValue)
				case v.Tensor != nil && len(v.Tensor.StringVal) == 1:
					desc = "text " + v.Tensor.StringVal[0]
				case v.Image != nil:
					desc = fmt.Sprintf("image %dx%d", v.Image.Width, v.Image.Height)
				case v.Histo != nil:
					desc = fmt.Sprintf("histogram of %v", v.Histo.Num)
				default:
					desc = v.Kind
				}
				if _, dup := out[key]; dup {
					t.Errorf("%s: %s written twice", f.Path, key)
				}
				out[key] = desc
			}
		}
	}
	return out
}

// sameContents compares contents with want, listing the differences.
func sameContents(t *testing.T, when string, got, want map[string]string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: %s (%s) missing", when, k, want[k])
		} else if g != want[k] {
			t.Errorf("%s: %s is %s, want %s", when, k, g, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s (%s) should not be there", when, k, got[k])
		}
	}
}

// A run directory's event files are filled by two writers one after the
// other: the trainer (per-step and per-epoch tags), then the runner's
// end-of-run records ("report/" tags), which it writes after dropping its
// own earlier ones. A resume from the checkpoint at step S keeps the
// trainer's records up to S and none of the runner's; the records written
// after that appear once each.
func TestResumeFuncAfterTwoWriters(t *testing.T) {
	pr := tbcheck.New(t)
	dir := t.TempDir()
	isReport := func(r tbevents.Record) bool { return strings.HasPrefix(r.Tag, "report/") }

	want := map[string]string{} // what the directory must hold
	trainer := func(w *tbevents.Writer, from, to int64, base float64) {
		t.Helper()
		for s := from; s <= to; s++ {
			v := base + float64(s)/8
			if err := w.Scalar("step/loss", s, v); err != nil {
				t.Fatal(err)
			}
			want[fmt.Sprintf("step/loss@%d", s)] = fmt.Sprint(v)
			if s%5 != 0 {
				continue
			}
			note := fmt.Sprintf("epoch %d of attempt %v", s/5, base)
			if err := w.Scalar("epoch/loss", s, v+1); err != nil {
				t.Fatal(err)
			}
			if err := w.Text("epoch/notes", s, note); err != nil {
				t.Fatal(err)
			}
			want[fmt.Sprintf("epoch/loss@%d", s)] = fmt.Sprint(v + 1)
			want[fmt.Sprintf("epoch/notes@%d", s)] = "text " + note
		}
	}
	runner := func(last int64) {
		t.Helper()
		w, err := tbevents.ResumeFunc(dir, func(r tbevents.Record) bool { return !isReport(r) })
		if err != nil {
			t.Fatal(err)
		}
		errs := []error{
			w.Scalar("report/acc", last, 0.75),
			w.Image("report/gallery", last, grayPNG(t, 4, 2), 4, 2),
			w.Histogram("report/sizes", last, []float64{0, 1, 1, 2}),
			w.Text("report/tables", last, "| method | ACC |"),
			// At a step the resume keeps: only the tag drops it.
			w.Scalar("report/early", 2, 1),
			w.Close(),
		}
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for k, v := range map[string]string{"report/acc": "0.75", "report/gallery": "image 4x2", "report/sizes": "histogram of 4", "report/tables": "text | method | ACC |"} {
			want[fmt.Sprintf("%s@%d", k, last)] = v
		}
		want["report/early@2"] = "1"
	}

	// The first attempt trains to step 10 and the runner reports.
	w, err := tbevents.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	trainer(w, 1, 10, 0)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	runner(10)
	sameContents(t, "after the first attempt", contents(t, pr.ReadClean(t, dir)), want)

	// Resumed from the checkpoint at step 5: the trainer's records up to
	// step 5 remain, nothing of the runner's.
	const S = 5
	w, err = tbevents.ResumeFunc(dir, func(r tbevents.Record) bool { return r.Step <= S && !isReport(r) })
	if err != nil {
		t.Fatal(err)
	}
	for k := range want {
		var step int64
		fmt.Sscanf(k[strings.LastIndex(k, "@")+1:], "%d", &step)
		if step > S || strings.HasPrefix(k, "report/") {
			delete(want, k)
		}
	}
	if len(want) != S+2 { // step/loss 1..5, epoch/loss and epoch/notes at 5
		t.Fatalf("setup: %d records expected to remain, want %d", len(want), S+2)
	}
	if paths, err := tbevents.Files(dir); err != nil || len(paths) != 1 || paths[0] != w.Path() {
		t.Errorf("event files after ResumeFunc: %v (%v), want only %s", paths, err, w.Path())
	}
	sameContents(t, "after ResumeFunc", contents(t, pr.ReadCleanFiles(t, w.Path())), want)

	// The resumed attempt trains again from step 6, with other values,
	// and the runner reports again.
	trainer(w, S+1, 10, 100)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	runner(10)
	files := pr.ReadClean(t, dir)
	sameContents(t, "after the resumed attempt", contents(t, files), want)
	for tag, steps := range tbcheck.Steps(files) {
		if len(steps) != len(slices.Compact(slices.Sorted(slices.Values(steps)))) {
			t.Errorf("%s has a step twice: %v", tag, steps)
		}
	}
	if recs, err := tbevents.ReadDir(dir); err != nil || len(recs) != 1+len(want) {
		t.Errorf("ReadDir: %d records (%v), want the file version and %d values", len(recs), err, len(want))
	}
}
