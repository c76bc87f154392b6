package main

import (
	"fmt"
	"strconv"
	"strings"
)

// trialSubset is the part of a run's trials one invocation runs: all of
// them, one (--trial-index N, a Slurm array task), or a shard (--shard
// i/n: the trials whose index is i modulo n), so that any scheduler (a
// Slurm array, Kubernetes indexed Jobs, GNU parallel, a loop over
// machines) can split a sweep. Indices are positions in the planned
// trial list, 0-based, in the sweep's config order; every invocation
// plans (and checks) all trials, so they agree on the list.
type trialSubset struct {
	index     int // -1: no --trial-index
	shard, of int // of 0: no --shard
}

// all says whether the subset is every trial.
func (s trialSubset) all() bool { return s.index < 0 && s.of == 0 }

// parseSubset reads the --trial-index and --shard flags.
func parseSubset(index int, indexSet bool, shard string) (trialSubset, error) {
	s := trialSubset{index: -1}
	if indexSet && shard != "" {
		return s, usageError{"give --trial-index or --shard, not both"}
	}
	if indexSet {
		if index < 0 {
			return s, usageError{fmt.Sprintf("--trial-index %d: want a trial's 0-based index", index)}
		}
		s.index = index
	}
	if shard != "" {
		i, n, ok := strings.Cut(shard, "/")
		si, err1 := strconv.Atoi(strings.TrimSpace(i))
		sn, err2 := strconv.Atoi(strings.TrimSpace(n))
		if !ok || err1 != nil || err2 != nil || sn < 1 || si < 0 || si >= sn {
			return s, usageError{fmt.Sprintf("--shard %q: want i/n with 0 <= i < n (shard i of n runs the trials whose index is i modulo n)", shard)}
		}
		s.shard, s.of = si, sn
	}
	return s, nil
}

// pick returns the trials of plans the subset runs, with their indices.
func (s trialSubset) pick(plans []*trialPlan) ([]*trialPlan, error) {
	switch {
	case s.index >= 0:
		if s.index >= len(plans) {
			return nil, usageError{fmt.Sprintf("--trial-index %d: the config has %d trial(s), indices 0 to %d", s.index, len(plans), len(plans)-1)}
		}
		return plans[s.index : s.index+1], nil
	case s.of > 0:
		var out []*trialPlan
		for i, p := range plans {
			if i%s.of == s.shard {
				out = append(out, p)
			}
		}
		return out, nil
	}
	return plans, nil
}
