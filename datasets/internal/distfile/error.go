package distfile

import (
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/clusterlab/clusterlab/core"
)

// Error reports a malformed file of a dataset: which file (and, inside an
// archive, which member) and where in it the problem was found. It is
// invalid input (core.ErrInvalidInput): the runner exits with status 2 and
// the user replaces the file.
type Error struct {
	Dataset string // the dataset's name in messages: "cifar", "stl10"
	File    string // path of the file on disk (the archive, for a member)
	Member  string // member name inside the archive; "" for a plain file
	// Offset is the byte offset of the problem within the file, or within
	// the member's uncompressed data for a member; -1 when the problem is
	// not at one place (a missing entry, a count mismatch).
	Offset int64
	Msg    string
	Err    error // underlying cause, if any
}

func (e *Error) Error() string {
	where := e.File
	if e.Member != "" {
		where = fmt.Sprintf("%s, member %s", e.File, e.Member)
	}
	if e.Offset >= 0 {
		unit := "byte offset"
		if e.Member != "" {
			unit = "byte offset (uncompressed)"
		}
		return fmt.Sprintf("%s file %s: at %s %d: %s", e.Dataset, where, unit, e.Offset, e.Msg)
	}
	return fmt.Sprintf("%s file %s: %s", e.Dataset, where, e.Msg)
}

// Is makes every Error invalid input (see core.ErrInvalidInput).
func (e *Error) Is(target error) bool { return target == core.ErrInvalidInput }

func (e *Error) Unwrap() error { return e.Err }

// StreamProblem explains an error of the reader under a decoder: inArchive
// says whether the data came out of a (compressed) archive.
func StreamProblem(err error, inArchive bool) string {
	var ce flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) && inArchive:
		return "the archive is truncated (the download may be incomplete); download it again"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the file is shorter than when it was opened; was it being written?"
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.As(err, &ce):
		return fmt.Sprintf("the archive is corrupt (%v); download it again", err)
	}
	return err.Error()
}

// Invalidf is an invalid-input error that is not about one file's bytes
// (a missing file, an option that does not fit the data).
func Invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{core.ErrInvalidInput}, args...)...)
}

// RootFault attributes invalid input (missing, truncated or garbled files
// under the dataset's root) to the option key naming that root; other
// errors pass unchanged.
func RootFault(key string, err error) error {
	if errors.Is(err, core.ErrInvalidInput) {
		return core.OptionFault(key, err)
	}
	return err
}
