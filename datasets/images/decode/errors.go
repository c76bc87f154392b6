package decode

import (
	"errors"
	"fmt"
)

// Error says why a file cannot be read as an image: it is not one, it is
// damaged or truncated, or it uses a part of its format that the package
// does not read (Unsupported). Its message is the reason alone, without the
// file's name, for the caller to prefix.
type Error struct {
	Reason      string
	Unsupported bool
}

func (e *Error) Error() string { return e.Reason }

func badf(format string, args ...any) error {
	return &Error{Reason: fmt.Sprintf(format, args...)}
}

func unsupportedf(format string, args ...any) error {
	return &Error{Reason: fmt.Sprintf(format, args...), Unsupported: true}
}

// IsBadImage reports whether err says the file is not a readable image (as
// opposed to an I/O or programming error).
func IsBadImage(err error) bool {
	var e *Error
	return errors.As(err, &e)
}
