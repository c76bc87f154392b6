package plugins

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clusterlab/clusterlab/core"
	pb "github.com/clusterlab/clusterlab/plugins/proto"
)

// PluginError is the one error the runner shows when a plugin misbehaves:
// it crashed, hung, does not speak the protocol, or sent malformed data.
// It names the plugin and quotes the tail of its stderr. Errors that a
// plugin's implementation returns on purpose (bad options, missing files)
// are not PluginErrors: they come back as plain errors with their message.
type PluginError struct {
	Kind string // core.KindDataset, ...
	Name string // the <name> of clusterlab-<kind>-<name>
	Path string // the executable
	// Problem says what went wrong, e.g. "exited during Fit: exit status 2".
	Problem string
	// Stderr holds the last lines of the plugin's stderr (newline
	// separated), empty when it wrote nothing.
	Stderr string
	// Err is the underlying cause, if any (for errors.Is/As).
	Err error
	// OutOfMemory is set when the plugin died for lack of memory: its
	// stderr says so (the Go runtime's fatal error, a C++ bad_alloc), or
	// the kernel's OOM killer killed a process of this cgroup meanwhile.
	OutOfMemory bool
}

func (e *PluginError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s plugin %q (%s) %s", e.Kind, e.Name, e.Path, e.Problem)
	if e.Stderr == "" {
		b.WriteString("; it wrote nothing to stderr")
		return b.String()
	}
	b.WriteString("; last lines of its stderr:")
	for _, l := range strings.Split(e.Stderr, "\n") {
		b.WriteString("\n  ")
		b.WriteString(l)
	}
	return b.String()
}

func (e *PluginError) Unwrap() []error {
	errs := []error{}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.OutOfMemory {
		errs = append(errs, core.ErrOutOfMemory)
	}
	return errs
}

// IsInvalidInput reports whether err was caused by input the user can fix
// (bad options, a missing file, an unknown split): the runner exits with
// status 2 on these. It recognises errors wrapping core.ErrInvalidInput or
// a *core.OptionError, on either side of the plugin boundary, and gRPC
// INVALID_ARGUMENT statuses.
func IsInvalidInput(err error) bool {
	if err == nil {
		return false
	}
	var oe *core.OptionError
	if errors.Is(err, core.ErrInvalidInput) || errors.As(err, &oe) {
		return true
	}
	return status.Code(err) == codes.InvalidArgument
}

// remoteError is an error returned on purpose by a plugin's implementation.
// Its message is the plugin's, unchanged.
type remoteError struct {
	msg     string
	invalid bool
	noSpace bool
	oom     bool
	option  *core.OptionError
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Unwrap() []error {
	var errs []error
	if e.invalid {
		errs = append(errs, core.ErrInvalidInput)
	}
	if e.noSpace {
		errs = append(errs, core.ErrNoSpace)
	}
	if e.oom {
		errs = append(errs, core.ErrOutOfMemory)
	}
	if e.option != nil {
		errs = append(errs, e.option)
	}
	return errs
}

func remoteErrorFromStatus(st *status.Status) *remoteError {
	e := &remoteError{msg: st.Message(), invalid: st.Code() == codes.InvalidArgument}
	for _, d := range st.Details() {
		ed, ok := d.(*pb.ErrorDetail)
		if !ok {
			continue
		}
		if ed.GetOption() != "" {
			e.option = &core.OptionError{Key: ed.GetOption(), Msg: ed.GetMessage()}
		}
		switch ed.GetReason() {
		case reasonNoSpace:
			e.noSpace = true
		case reasonOutOfMemory:
			e.oom = true
		}
	}
	return e
}

// reasonNoSpace is ErrorDetail.reason of a RESOURCE_EXHAUSTED status
// caused by a full disk, a quota or a file size limit.
const reasonNoSpace = "no_space"

// reasonOutOfMemory is ErrorDetail.reason of a RESOURCE_EXHAUSTED status
// caused by a lack of memory (host or GPU).
const reasonOutOfMemory = "out_of_memory"

// exhausted is RESOURCE_EXHAUSTED with the reason of the lack (disk,
// memory) as its detail.
func exhausted(err error, reason string) error {
	st := status.New(codes.ResourceExhausted, err.Error())
	if withDetail, derr := st.WithDetails(&pb.ErrorDetail{Reason: reason}); derr == nil {
		st = withDetail
	}
	return st.Err()
}

// toStatus maps an implementation's error to the gRPC status documented in
// clusterlab.proto (plugin side).
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var oe *core.OptionError
	switch {
	case core.NoSpace(err):
		return exhausted(err, reasonNoSpace)
	case core.OutOfMemory(err):
		return exhausted(err, reasonOutOfMemory)
	case errors.As(err, &oe):
		st := status.New(codes.InvalidArgument, err.Error())
		if withDetail, derr := st.WithDetails(&pb.ErrorDetail{Option: oe.Key, Message: oe.Msg}); derr == nil {
			st = withDetail
		}
		return st.Err()
	case errors.Is(err, core.ErrInvalidInput):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}
