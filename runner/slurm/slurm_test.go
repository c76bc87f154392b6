package slurm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestScript(t *testing.T) {
	j := Job{
		Name: "clusterlab-x", Partition: "cpu", Account: "lab", Time: "02:00:00", Mem: "16G", CPUs: 4, GPUs: 1,
		Array: "1,4,5%2", Dependency: "afterok:12", Output: "/runs/x/.slurm/s/tasks/%a/slurm-%A_%a.log",
		Extra: []string{"--qos=normal"}, Dir: "/home/me/my project", Env: []string{"CLUSTERLAB_LOSS__EPOCHS=5", "CLUSTERLAB_PLUGIN_PATH="},
		Setup:   []string{"module load openblas"},
		Command: []string{"/opt/clusterlab", "run", "/home/me/sweep.yaml", "--set", "loss.temperatures=[0.1, 0.2]", "--set", "name=it's", "--trial-index", ArrayTaskID},
	}
	got := string(j.Script())
	for _, want := range []string{
		"#!/bin/bash\n",
		"#SBATCH --job-name=clusterlab-x\n", "#SBATCH --partition=cpu\n", "#SBATCH --account=lab\n",
		"#SBATCH --time=02:00:00\n", "#SBATCH --mem=16G\n", "#SBATCH --cpus-per-task=4\n", "#SBATCH --gres=gpu:1\n",
		"#SBATCH --array=1,4,5%2\n", "#SBATCH --dependency=afterok:12\n", "#SBATCH --kill-on-invalid-dep=yes\n",
		"#SBATCH --output=/runs/x/.slurm/s/tasks/%a/slurm-%A_%a.log\n", "#SBATCH --open-mode=append\n",
		"#SBATCH --qos=normal\n",
		"cd '/home/me/my project'\n",
		"export CLUSTERLAB_LOSS__EPOCHS=5\n", "export CLUSTERLAB_PLUGIN_PATH=''\n",
		"module load openblas\n",
		`exec /opt/clusterlab run /home/me/sweep.yaml --set 'loss.temperatures=[0.1, 0.2]' --set 'name=it'\''s' --trial-index "$SLURM_ARRAY_TASK_ID"` + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("script lacks %q:\n%s", want, got)
		}
	}
	// #SBATCH lines must come before the first command, or sbatch ignores them.
	if i, k := strings.LastIndex(got, "#SBATCH"), strings.Index(got, "\ncd "); i > k {
		t.Errorf("an #SBATCH line follows a command:\n%s", got)
	}
	// What is left to the cluster is not written.
	plain := string(Job{Command: []string{"true"}}.Script())
	for _, absent := range []string{"--partition", "--time", "--mem", "--cpus", "--gres", "--array", "--dependency", "--output", "--open-mode"} {
		if strings.Contains(plain, absent) {
			t.Errorf("a job without %s writes it:\n%s", absent, plain)
		}
	}
}

// The script is valid bash, and its command gets exactly the words given.
func TestScriptRunsItsCommand(t *testing.T) {
	dir := t.TempDir()
	words := []string{"a b", "it's", `$HOME`, "*", "", "--set=x=[1, 2]", "back\\slash"}
	out := filepath.Join(dir, "out")
	j := Job{Dir: dir, Env: []string{"X=1 2"}, Command: append([]string{"/usr/bin/env", "bash", "-c", `printf '%s\n' "$X" "$SLURM_ARRAY_TASK_ID" "$@" > ` + Quote(out), "sh"}, append(words, ArrayTaskID)...)}
	script := filepath.Join(dir, "job.sh")
	if err := os.WriteFile(script, j.Script(), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=7")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	b, _ := os.ReadFile(out)
	want := strings.Join(append(append([]string{"1 2", "7"}, words...), "7"), "\n") + "\n"
	if string(b) != want {
		t.Errorf("the command got %q, want %q", b, want)
	}
}

func TestParseTasks(t *testing.T) {
	tasks, err := parseTasks("12|N/A|COMPLETED|None\n13_4|4|PENDING|JobArrayTaskLimit\n13_5|5|CANCELLED|DependencyNeverSatisfied\n13_1|1|RUNNING|None\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 4 {
		t.Fatalf("%d tasks, want 4: %+v", len(tasks), tasks)
	}
	want := []Task{{"12", -1, "COMPLETED", ""}, {"13_4", 4, "PENDING", "JobArrayTaskLimit"}, {"13_5", 5, "CANCELLED", "DependencyNeverSatisfied"}, {"13_1", 1, "RUNNING", ""}}
	for i, w := range want {
		if tasks[i] != w {
			t.Errorf("task %d: %+v, want %+v", i, tasks[i], w)
		}
	}
	if tasks[0].Active() || !tasks[1].Active() || !tasks[1].Pending() || tasks[2].Active() || !tasks[3].Active() || tasks[3].Pending() {
		t.Errorf("Active/Pending wrong: %+v", tasks)
	}
	if _, err := parseTasks("12 COMPLETED"); err == nil {
		t.Error("a line of another format was accepted")
	}
}

func TestAvailableSaysWhatToDo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := Available()
	if err == nil || !strings.Contains(err.Error(), "sbatch is not on PATH") || !strings.Contains(err.Error(), "--executor local") {
		t.Errorf("without Slurm on PATH: %v", err)
	}
}

func TestRanges(t *testing.T) {
	for want, in := range map[string][]int{"0-5": {0, 1, 2, 3, 4, 5}, "0-1,3,5-7": {0, 1, 3, 5, 6, 7}, "4": {4}, "": nil, "1,3": {1, 3}} {
		if got := Ranges(in); got != want {
			t.Errorf("Ranges(%v) = %q, want %q", in, got, want)
		}
	}
}
