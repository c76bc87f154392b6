package core

import (
	"context"
	"errors"
)

// ErrInvalidInput marks errors caused by the user's input (config, data
// files, models, options) rather than by the program or the machine. The
// plugin protocol carries it across processes (gRPC InvalidArgument) and
// the runner exits with status 2 on it.
var ErrInvalidInput = errors.New("invalid input")

// Is makes option errors invalid input.
func (e *OptionError) Is(target error) bool { return target == ErrInvalidInput }

// InvalidInput marks err as caused by the user's input (exit status 2)
// without changing its message. It returns nil for nil and leaves context
// cancellations alone.
func InvalidInput(err error) error {
	if err == nil || errors.Is(err, ErrInvalidInput) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return invalidInputError{err}
}

type invalidInputError struct{ err error }

func (e invalidInputError) Error() string   { return e.err.Error() }
func (e invalidInputError) Unwrap() []error { return []error{e.err, ErrInvalidInput} }

// ErrNoSpace marks a write that failed, or would fail, for lack of disk
// space (a full disk, a quota, a file size limit). The plugin protocol
// carries it across processes (RESOURCE_EXHAUSTED with reason "no_space"),
// so the runner can say how to resume whichever process ran out.
var ErrNoSpace = errors.New("not enough free disk space")

// NoSpace reports whether err comes from a full disk, a quota or a file
// size limit: ErrNoSpace, or the operating system's error for it.
func NoSpace(err error) bool {
	if errors.Is(err, ErrNoSpace) {
		return true
	}
	for _, e := range noSpaceErrnos {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
