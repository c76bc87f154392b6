package rundir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The records of trials run by a scheduler (Slurm) in an experiment
// directory.
const (
	// SlurmDir holds an experiment's Slurm submissions, one folder each
	// (named after the time of submission): the batch scripts, the prepare
	// job's log and SubmissionFile. Its name starts with '.', so tables
	// do not take it for a trial.
	SlurmDir = ".slurm"
	// SubmissionFile records one submission (Submission).
	SubmissionFile = "submission.json"
	// SlurmLogPrefix starts the name of a Slurm task's log in its trial's
	// run directory: slurm-<array job>_<task>.log, appended to by every
	// attempt (requeues, resubmissions write their own).
	SlurmLogPrefix = "slurm-"
)

// IsSchedulerLog says whether a file of a run directory is a scheduler's
// log of the task that runs the trial: it is not part of the run's
// results (a run directory holding only such logs holds no run yet).
func IsSchedulerLog(name string) bool {
	return strings.HasPrefix(name, SlurmLogPrefix) && strings.HasSuffix(name, ".log")
}

// Submission is submission.json: one submission of an experiment's trials
// to Slurm, by `clusterlab run CONFIG --executor slurm`.
type Submission struct {
	Submitted time.Time `json:"submitted"`
	Host      string    `json:"host"`
	User      string    `json:"user"`
	// Config is the config file (absolute) and Command the clusterlab
	// command every array task runs, with its index appended.
	Config  string   `json:"config"`
	Command []string `json:"command"`
	// Dir is the working directory of the jobs.
	Dir string `json:"dir"`
	// PrepareJob fills the cache (embeddings, k-NN graphs); ArrayJob has
	// one task per trial, task index = the trial's index in the sweep.
	PrepareJob string `json:"prepare_job"`
	PrepareLog string `json:"prepare_log"`
	ArrayJob   string `json:"array_job"`
	// ArrayLimit is the most tasks running at once (0: no limit).
	ArrayLimit int              `json:"array_limit,omitempty"`
	Trials     []SubmittedTrial `json:"trials"`
}

// SubmittedTrial is one array task of a submission.
type SubmittedTrial struct {
	Index    int    `json:"index"`
	Trial    string `json:"trial"`
	Identity string `json:"identity"`
	RunDir   string `json:"run_dir"`
	// Log is the task's log file (in the run directory).
	Log string `json:"log"`
}

// Task is the Slurm id of the trial's task: <array job>_<index>.
func (s Submission) Task(t SubmittedTrial) string { return fmt.Sprintf("%s_%d", s.ArrayJob, t.Index) }

// WriteSubmission writes dir/submission.json.
func WriteSubmission(dir string, s Submission) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, SubmissionFile), append(b, '\n'))
}

// ReadSubmissions reads every submission of an experiment directory,
// oldest first; none is no error.
func ReadSubmissions(expDir string) ([]Submission, error) {
	entries, err := os.ReadDir(filepath.Join(expDir, SlurmDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Submission
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		s, err := ReadSubmission(filepath.Join(expDir, SlurmDir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // a submission that failed before sbatch
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Submitted.Before(out[j].Submitted) })
	return out, nil
}

// ReadSubmission reads the submission.json of one submission's folder.
func ReadSubmission(dir string) (Submission, error) {
	path := filepath.Join(dir, SubmissionFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return Submission{}, err
	}
	var s Submission
	if err := json.Unmarshal(b, &s); err != nil {
		return Submission{}, fmt.Errorf("%s is damaged: %w", path, err)
	}
	return s, nil
}
