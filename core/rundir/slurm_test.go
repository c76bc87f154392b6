package rundir

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSubmissionsRoundTrip(t *testing.T) {
	exp := t.TempDir()
	if subs, err := ReadSubmissions(exp); err != nil || len(subs) != 0 {
		t.Fatalf("an experiment without submissions: %v %v", subs, err)
	}
	t0 := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	for i, name := range []string{"b", "a"} { // folder order is not time order
		dir := filepath.Join(exp, SlurmDir, name)
		os.MkdirAll(dir, 0o755)
		s := Submission{Submitted: t0.Add(time.Duration(i) * time.Hour), ArrayJob: name + "7", PrepareJob: "6",
			Trials: []SubmittedTrial{{Index: 3, Trial: "temi-seed1", Identity: "abc", RunDir: "/r/temi-seed1", Log: "/r/temi-seed1/slurm-7_3.log"}}}
		if err := WriteSubmission(dir, s); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(exp, SlurmDir, "c"), 0o755) // failed before sbatch: no record
	subs, err := ReadSubmissions(exp)
	if err != nil || len(subs) != 2 {
		t.Fatalf("%d submissions, %v", len(subs), err)
	}
	if subs[0].ArrayJob != "b7" || subs[1].ArrayJob != "a7" || subs[1].Task(subs[1].Trials[0]) != "a7_3" {
		t.Errorf("submissions out of time order or garbled: %+v", subs)
	}
	os.WriteFile(filepath.Join(exp, SlurmDir, "c", SubmissionFile), []byte("{"), 0o644)
	if _, err := ReadSubmissions(exp); err == nil {
		t.Error("a damaged submission.json was accepted")
	}
}

func TestIsSchedulerLog(t *testing.T) {
	for name, want := range map[string]bool{"slurm-12_3.log": true, "slurm-12.log": true, "run.json": false, "slurm-12_3.out": false, "myslurm-1.log": false} {
		if IsSchedulerLog(name) != want {
			t.Errorf("IsSchedulerLog(%q) = %v", name, !want)
		}
	}
}
