package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/clusterlab/clusterlab/core"
)

// Executors: where `clusterlab run` runs the trials.
const (
	// ExecutorLocal runs them in this process (the default).
	ExecutorLocal = "local"
	// ExecutorSlurm submits them to Slurm: a prepare job that fills the
	// cache, then an array job with a task per trial.
	ExecutorSlurm = "slurm"
)

// Executor is the executor: section of a config: where the trials run and,
// for Slurm, what each job asks for. It is not part of a trial's identity
// (the same trial run locally or on Slurm is the same trial), and it
// cannot be swept.
//
//	executor:
//	  kind: slurm
//	  partition: cpu
//	  account: mygroup
//	  time: "02:00:00"
//	  cpus: 4
//	  mem: 16G
//	  gpus: 0
//	  array_limit: 8
//	  sbatch: ["--qos=normal", "--constraint=avx512"]
//	  setup: ["module load openblas"]
type Executor struct {
	Kind string
	// Slurm resources of every job (prepare and trials).
	Partition, Account, Time, Mem string
	CPUs, GPUs                    int
	// ArrayLimit is the most trials running at once (sbatch --array's %
	// limit); 0: no limit.
	ArrayLimit int
	// Sbatch are extra sbatch options, each written as its own #SBATCH
	// line; Setup are shell lines run before clusterlab in every job.
	Sbatch, Setup []string
	// Prepare* override the resources of the prepare job (embeddings and
	// k-NN graphs), which may need more memory or a GPU and less time than
	// a trial; empty or 0: the trials' values.
	PrepareTime, PrepareMem  string
	PrepareCPUs, PrepareGPUs int
}

var executorSchema = []core.Option{
	{Name: "kind", Type: core.TypeString, Default: ExecutorLocal, Choices: []string{ExecutorLocal, ExecutorSlurm}, Help: "where `clusterlab run` runs the trials: local (this process) or slurm (a prepare job and an array job with a task per trial; --executor overrides)"},
	{Name: "partition", Type: core.TypeString, Default: "", Help: "Slurm partition (sbatch --partition); empty: the cluster's default"},
	{Name: "account", Type: core.TypeString, Default: "", Help: "Slurm account charged (sbatch --account); empty: yours by default"},
	{Name: "time", Type: core.TypeString, Default: "", Help: "time limit of each trial's job (sbatch --time, e.g. 02:00:00 or 1-12:00:00); empty: the partition's default"},
	{Name: "cpus", Type: core.TypeInt, Default: 0, Min: core.Bound(0), Help: "CPUs of each job (sbatch --cpus-per-task); 0: Slurm's default (1)"},
	{Name: "mem", Type: core.TypeString, Default: "", Help: "memory of each job (sbatch --mem, e.g. 16G); empty: the partition's default"},
	{Name: "gpus", Type: core.TypeInt, Default: 0, Min: core.Bound(0), Help: "GPUs of each job (sbatch --gres=gpu:N); 0: none"},
	{Name: "array_limit", Type: core.TypeInt, Default: 0, Min: core.Bound(0), Help: "the most trials running at once (sbatch --array's %limit); 0: as many as Slurm gives"},
	{Name: "prepare_time", Type: core.TypeString, Default: "", Help: "time limit of the prepare job (embeddings, k-NN graphs); empty: as time"},
	{Name: "prepare_cpus", Type: core.TypeInt, Default: 0, Min: core.Bound(0), Help: "CPUs of the prepare job; 0: as cpus"},
	{Name: "prepare_mem", Type: core.TypeString, Default: "", Help: "memory of the prepare job; empty: as mem"},
	{Name: "prepare_gpus", Type: core.TypeInt, Default: 0, Min: core.Bound(0), Help: "GPUs of the prepare job (a backbone on a GPU); 0: as gpus"},
}

// executorLists are the executor keys whose value is a list of strings.
var executorLists = map[string]string{
	"sbatch": "extra sbatch options, one #SBATCH line each (e.g. [\"--qos=normal\", \"--constraint=a100\"])",
	"setup":  "shell lines run before clusterlab in every job (e.g. [\"module load cuda\", \"source ~/venv/bin/activate\"])",
}

// slurmTime is what sbatch --time accepts: minutes, minutes:seconds,
// hours:minutes:seconds, days-hours, days-hours:minutes,
// days-hours:minutes:seconds, or UNLIMITED.
var slurmTime = regexp.MustCompile(`^(UNLIMITED|INFINITE|\d+(:\d+){0,2}|\d+-\d+(:\d+){0,2})$`)

// slurmMem is what sbatch --mem accepts: a number with an optional unit.
var slurmMem = regexp.MustCompile(`^\d+[KMGTkmgt]?$`)

// executor reads the executor: section.
func (c *Config) executor(v any) error {
	given := core.Options{}
	lists := map[string][]string{}
	if v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return c.ErrorAt("executor", "want a section (a mapping), e.g. executor: {kind: slurm, partition: cpu, time: \"02:00:00\"}")
		}
		for k, val := range m {
			if _, isList := executorLists[k]; !isList {
				given[k] = val
				continue
			}
			l, err := stringList(val)
			if err != nil {
				return c.ErrorAt("executor."+k, "%v: want a list of strings, %s", err, executorLists[k])
			}
			for _, line := range l {
				if strings.ContainsAny(line, "\n\r") {
					return c.ErrorAt("executor."+k, "an entry spans several lines; give one entry per line")
				}
			}
			lists[k] = l
		}
	}
	opts, err := core.ResolveOptions(executorSchema, given)
	if err != nil {
		return c.optionError("executor", err)
	}
	e := Executor{
		Kind: opts.String("kind"), Partition: opts.String("partition"), Account: opts.String("account"),
		Time: opts.String("time"), Mem: opts.String("mem"), CPUs: opts.Int("cpus"), GPUs: opts.Int("gpus"),
		ArrayLimit: opts.Int("array_limit"), Sbatch: lists["sbatch"], Setup: lists["setup"],
		PrepareTime: opts.String("prepare_time"), PrepareMem: opts.String("prepare_mem"),
		PrepareCPUs: opts.Int("prepare_cpus"), PrepareGPUs: opts.Int("prepare_gpus"),
	}
	for _, t := range []struct{ key, v string }{{"time", e.Time}, {"prepare_time", e.PrepareTime}} {
		if t.v != "" && !slurmTime.MatchString(t.v) {
			return c.ErrorAt("executor."+t.key, "%q is not a Slurm time: want minutes, [days-]hours:minutes:seconds (e.g. 02:00:00, 1-12:00:00) or UNLIMITED", t.v)
		}
	}
	for _, m := range []struct{ key, v string }{{"mem", e.Mem}, {"prepare_mem", e.PrepareMem}} {
		if m.v != "" && !slurmMem.MatchString(m.v) {
			return c.ErrorAt("executor."+m.key, "%q is not a Slurm memory size: want a number with an optional unit K, M, G or T (e.g. 16G)", m.v)
		}
	}
	for _, s := range e.Sbatch {
		if !strings.HasPrefix(s, "-") {
			return c.ErrorAt("executor.sbatch", "%q: want sbatch options as on its command line (e.g. --qos=normal), each written as an #SBATCH line", s)
		}
		for _, own := range []string{"--array", "--dependency", "--output", "--error", "--parsable", "--wrap", "--job-name", "--open-mode", "-a", "-d", "-o", "-e", "-J"} {
			if s == own || strings.HasPrefix(s, own+"=") || (len(own) == 2 && strings.HasPrefix(s, own)) {
				return c.ErrorAt("executor.sbatch", "%q: clusterlab sets %s itself (the trials, their order, their logs); leave it out", s, own)
			}
		}
	}
	c.Executor = e
	return nil
}

// stringList reads a list of strings (a single string is a list of one).
func stringList(v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("entry %d is %v, not a string", i, e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("got %v", v)
}
