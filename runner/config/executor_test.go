package config

import (
	"strings"
	"testing"
)

func TestExecutorSection(t *testing.T) {
	c, err := LoadBytes("exp.yaml", []byte(base), nil, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Executor.Kind != ExecutorLocal || c.Executor.CPUs != 0 || len(c.Executor.Sbatch) != 0 {
		t.Errorf("default executor: %+v", c.Executor)
	}
	cfg := base + `executor:
  kind: slurm
  partition: cpu
  account: lab
  time: "1-12:00:00"
  cpus: 4
  mem: 16G
  gpus: 1
  array_limit: 8
  prepare_mem: 64G
  sbatch: ["--qos=normal", "--constraint=avx512"]
  setup: "module load openblas"
`
	c, err = LoadBytes("exp.yaml", []byte(cfg), []string{"CLUSTERLAB_EXECUTOR__CPUS=2"}, Overrides{Sets: []string{"executor.array_limit=3"}})
	if err != nil {
		t.Fatal(err)
	}
	e := c.Executor
	if e.Kind != ExecutorSlurm || e.Partition != "cpu" || e.Account != "lab" || e.Time != "1-12:00:00" || e.CPUs != 2 || e.Mem != "16G" || e.GPUs != 1 ||
		e.ArrayLimit != 3 || e.PrepareMem != "64G" || strings.Join(e.Sbatch, " ") != "--qos=normal --constraint=avx512" || len(e.Setup) != 1 {
		t.Errorf("executor: %+v", e)
	}
	// The executor is not part of a trial's identity: Map leaves it out.
	if _, ok := c.Map(nil)["executor"]; ok {
		t.Error("the executor section is in the resolved config (and so in the trial's identity)")
	}
}

func TestExecutorErrors(t *testing.T) {
	for _, tc := range []struct{ section, want string }{
		{`executor: slurm`, `"executor": want a section`},
		{`executor: {kind: pbs}`, `executor.kind`},
		{`executor: {cpus: -1}`, `executor.cpus`},
		{`executor: {time: "2 hours"}`, `"2 hours" is not a Slurm time`},
		{`executor: {mem: 16GB}`, `"16GB" is not a Slurm memory size`},
		{`executor: {sbatch: ["qos=normal"]}`, `want sbatch options as on its command line`},
		{`executor: {sbatch: ["--array=0-3"]}`, `clusterlab sets --array itself`},
		{`executor: {sbatch: ["-o x.log"]}`, `clusterlab sets -o itself`},
		{`executor: {sbatch: [1]}`, `want a list of strings`},
		{`executor: {partiton: cpu}`, `partiton`},
	} {
		_, err := LoadBytes("exp.yaml", []byte(base+tc.section+"\n"), nil, Overrides{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.section, err, tc.want)
		}
	}
	sweep := base + "sweep: {grid: {executor.cpus: [1, 2]}}\n"
	if _, err := LoadBytes("exp.yaml", []byte(sweep), nil, Overrides{}); err == nil || !strings.Contains(err.Error(), "cannot be swept") {
		t.Errorf("a swept executor key: %v", err)
	}
}
