package core

import "errors"

// ErrInvalidInput marks errors caused by the user's input (config, data
// files, models, options) rather than by the program or the machine. The
// plugin protocol carries it across processes (gRPC InvalidArgument) and
// the runner exits with status 2 on it.
var ErrInvalidInput = errors.New("invalid input")

// Is makes option errors invalid input.
func (e *OptionError) Is(target error) bool { return target == ErrInvalidInput }
