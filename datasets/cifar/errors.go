package main

import (
	"fmt"

	"github.com/clusterlab/clusterlab/core"
)

// FormatError reports a malformed CIFAR file: which file (and, inside an
// archive, which member) and where the problem was found. It is invalid
// input: the runner exits with status 2 and the user replaces the file.
type FormatError struct {
	File   string // path of the file on disk (the archive, for a member)
	Member string // member name inside the archive; "" for a plain file
	// Offset is the byte offset of the problem within the file, or within
	// the member's uncompressed data for a member; -1 when the problem is
	// not at one place (a missing dictionary entry, a count mismatch).
	Offset int64
	Msg    string
	Err    error // underlying cause, if any
}

func (e *FormatError) Error() string {
	where := e.File
	if e.Member != "" {
		where = fmt.Sprintf("%s, member %s", e.File, e.Member)
	}
	if e.Offset >= 0 {
		unit := "byte offset"
		if e.Member != "" {
			unit = "byte offset (uncompressed)"
		}
		return fmt.Sprintf("cifar file %s: at %s %d: %s", where, unit, e.Offset, e.Msg)
	}
	return fmt.Sprintf("cifar file %s: %s", where, e.Msg)
}

// Is makes every FormatError invalid input (see core.ErrInvalidInput).
func (e *FormatError) Is(target error) bool { return target == core.ErrInvalidInput }

func (e *FormatError) Unwrap() error { return e.Err }

// invalidf is an invalid-input error that is not about one file's bytes
// (a missing file, an option that does not fit the data).
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{core.ErrInvalidInput}, args...)...)
}
