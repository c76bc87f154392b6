package main

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/clusterlab/clusterlab/core/rundir"
)

func TestParseSubset(t *testing.T) {
	plans := make([]*trialPlan, 7)
	for i := range plans {
		plans[i] = &trialPlan{trial: string(rune('a' + i))}
	}
	names := func(ps []*trialPlan) string {
		var b strings.Builder
		for _, p := range ps {
			b.WriteString(p.trial)
		}
		return b.String()
	}
	for _, tc := range []struct {
		index    int
		indexSet bool
		shard    string
		want     string
		err      string
	}{
		{want: "abcdefg"},
		{index: 3, indexSet: true, want: "d"},
		{index: 0, indexSet: true, want: "a"},
		{shard: "1/3", want: "be"},
		{shard: "0/1", want: "abcdefg"},
		{shard: "2/9", want: "c"},
		{shard: "8/9", want: ""},
		{index: 7, indexSet: true, err: "the config has 7 trial(s), indices 0 to 6"},
		{index: -1, indexSet: true, err: "want a trial's 0-based index"},
		{shard: "3/3", err: "want i/n with 0 <= i < n"},
		{shard: "1", err: "want i/n"},
		{shard: "a/2", err: "want i/n"},
		{index: 1, indexSet: true, shard: "0/2", err: "not both"},
	} {
		sub, err := parseSubset(tc.index, tc.indexSet, tc.shard)
		var got []*trialPlan
		if err == nil {
			got, err = sub.pick(plans)
		}
		var ue usageError
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &ue)):
			t.Errorf("%+v: error %v, want a usage error with %q", tc, err, tc.err)
		case tc.err == "" && (err != nil || names(got) != tc.want):
			t.Errorf("%+v: %q %v, want %q", tc, names(got), err, tc.want)
		}
	}
}

// A sweep split in shards, each run by its own invocation, gives the same
// trials as the sweep run whole: every trial is run once, by its shard,
// and `clusterlab table` gathers them; --trial-index runs one.
func TestShardsAndTrialIndex(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("end-to-end test runs on Linux")
	}
	dir := t.TempDir()
	cfg := strings.Replace(smallConfig, "epochs: 3", "epochs: 1", 1) + `
sweep:
  variants:
    - {name: temi, loss.plugin: temi}
    - {name: scan, loss.plugin: scan}
  seeds: [0, 1]
`
	os.WriteFile(filepath.Join(dir, "sweep.yaml"), []byte(cfg), 0o644)
	ran := map[string]int{}
	tablesFile := filepath.Join(dir, "runs", "e2e", rundir.SweepTablesText)
	for i, shard := range []string{"0/2", "1/2"} {
		r := clusterlab(t, dir, nil, "run", "sweep.yaml", "--shard", shard)
		if r.code != 0 {
			t.Fatalf("shard %s failed (%d):\n%s", shard, r.code, r.stderr)
		}
		// Only the shard that finishes the sweep writes its tables.
		_, err := os.Stat(tablesFile)
		if last := i == 1; last != (err == nil) || last != strings.Contains(r.stderr, "every trial of e2e has finished") {
			t.Errorf("after shard %s the sweep's tables exist: %v (%v), want %v:\n%s", shard, err == nil, err, last, r.stderr)
		}
		for _, line := range strings.Split(r.stderr, "\n") {
			if i := strings.Index(line, "sweep: trial "); i >= 0 && strings.HasSuffix(line, ")") && strings.Contains(line, " done (") {
				ran[strings.Fields(line[i+len("sweep: trial "):])[0]]++
			}
		}
		if i == 0 && !strings.Contains(r.stderr, "gathers every trial") {
			t.Errorf("shard %s does not say how to gather the sweep:\n%s", shard, r.stderr)
		}
	}
	if len(ran) != 4 || ran["temi-seed0"] != 1 || ran["scan-seed1"] != 1 {
		t.Fatalf("trials run by the shards: %v, want each of the 4 once", ran)
	}
	r := clusterlab(t, dir, nil, "table", filepath.Join("runs", "e2e"))
	if r.code != 0 || !strings.Contains(r.stdout, "4 trials") || strings.Count(r.stdout, "2/2 finished") != 2 {
		t.Errorf("table of the sharded sweep (%d):\n%s", r.code, r.stdout)
	}
	// One trial by index: already finished, reused; an index past the end
	// is bad input.
	r = clusterlab(t, dir, nil, "run", "sweep.yaml", "--trial-index", "2")
	if r.code != 0 || !strings.Contains(r.stderr, "scan-seed0") || !strings.Contains(r.stderr, "already finished") {
		t.Errorf("--trial-index 2 (%d):\n%s", r.code, r.stderr)
	}
	r = clusterlab(t, dir, nil, "run", "sweep.yaml", "--trial-index", "4")
	if r.code != 2 || !strings.Contains(r.stderr, "4 trial(s), indices 0 to 3") {
		t.Errorf("--trial-index 4 (%d):\n%s", r.code, r.stderr)
	}
}

// A trial that another live process is running is skipped by a second
// invocation of the sweep, which runs the rest, succeeds and prints the
// table of every trial.
func TestSweepSkipsTrialRunElsewhere(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("end-to-end test runs on Linux")
	}
	dir := t.TempDir()
	cfg := strings.Replace(smallConfig, "epochs: 3", "epochs: 40", 1) + `
sweep:
  variants:
    - {name: temi, loss.plugin: temi}
  seeds: [0, 1]
`
	os.WriteFile(filepath.Join(dir, "sweep.yaml"), []byte(cfg), 0o644)
	first := startRunner(t, dir, "run", "sweep.yaml", "--trial-index", "0")
	if !first.waitLine(firstStepLine) {
		t.Fatalf("the first invocation never trained:\n%s", first.stderr())
	}
	r := clusterlab(t, dir, nil, "run", "sweep.yaml")
	first.cmd.Process.Signal(syscall.SIGINT)
	first.exitCode()
	if r.code != 0 || !strings.Contains(r.stderr, "sweep: trial temi-seed0 skipped") || !strings.Contains(r.stderr, "in use by process") {
		t.Fatalf("second invocation (%d) did not skip the busy trial:\n%s", r.code, r.stderr)
	}
	// Its table has both trials (seed 0 as running or, when the first
	// invocation finished meanwhile, finished).
	if !strings.Contains(r.stderr, "sweep: trial temi-seed1 done") || !strings.Contains(r.stdout, "sweep e2e: 2 trials") {
		t.Errorf("the second invocation should run seed 1 and print the table of both:\n%s\n%s", r.stdout, r.stderr)
	}
}
