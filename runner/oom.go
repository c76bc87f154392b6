package main

import (
	"errors"
	"fmt"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/hostmem"
	"github.com/clusterlab/clusterlab/core/store"
)

// outOfMemoryError is a stage of a trial that ran out of memory (its own
// allocation, a plugin's, ONNX Runtime's, a GPU's): it names the stage,
// the allocation that failed where the message says, and the options
// that lower the stage's memory.
type outOfMemoryError struct {
	stage string // "training (loss temi)", ...
	lower string // the options to lower, as config keys
	need  int64  // bytes of the allocation that failed; 0 when unknown
	err   error
}

func (e *outOfMemoryError) Error() string {
	if _, ok := hostmem.Need(e.err); ok {
		// Checked before the stage started: nothing ran out yet.
		return e.stage + " was not started for lack of memory: " + e.err.Error()
	}
	s := e.stage + " ran out of memory"
	if e.need > 0 {
		s += fmt.Sprintf(" (an allocation of %s failed)", store.HumanBytes(uint64(e.need)))
	}
	return s + ": " + e.err.Error()
}

func (e *outOfMemoryError) Unwrap() error { return e.err }

// hint says what to do.
func (e *outOfMemoryError) hint() string {
	return fmt.Sprintf("out of memory in %s: lower %s, or run where more memory is free; then run the same command again (finished stages are reused from the cache, training resumes from its last checkpoint unless a changed option makes it a new trial)", e.stage, e.lower)
}

// stageMemory turns err, when it is a lack of memory, into an
// outOfMemoryError of stage; other errors pass unchanged.
func stageMemory(stage, lower string, err error) error {
	if err == nil || !core.OutOfMemory(err) {
		return err
	}
	if errors.As(err, new(*outOfMemoryError)) {
		return err
	}
	return &outOfMemoryError{stage: stage, lower: lower, need: core.MemoryRequested(err.Error()), err: err}
}
