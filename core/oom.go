package core

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// ErrOutOfMemory marks a failure for lack of memory (host or GPU). The
// plugin protocol carries it across processes (RESOURCE_EXHAUSTED with
// reason "out_of_memory"), and a plugin that dies of it (the Go runtime's
// fatal error, a C++ bad_alloc) is recognised from its stderr, so that
// the runner can name the stage and the option to lower.
var ErrOutOfMemory = errors.New("out of memory")

// oomTexts are how the libraries in a run say they ran out of memory,
// lower-cased: the Go runtime ("fatal error: runtime: out of memory",
// "cannot allocate 123-byte block"), ONNX Runtime ("Failed to allocate
// memory for requested buffer of size 123"), C++ (std::bad_alloc), XLA and
// CUDA ("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 123
// bytes", CUDA_ERROR_OUT_OF_MEMORY, cudaErrorMemoryAllocation), and the
// operating system ("cannot allocate memory", ENOMEM).
// (CUDA_ERROR_OUT_OF_MEMORY is caught by "out_of_memory".)
var oomTexts = []string{"out of memory", "failed to allocate memory", "bad_alloc",
	"cudaerrormemoryallocation", "cannot allocate memory", "out_of_memory"}

// OutOfMemory reports whether err comes from a lack of memory:
// ErrOutOfMemory, ENOMEM, or one of the libraries' messages for it.
func OutOfMemory(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrOutOfMemory) || errors.Is(err, syscall.ENOMEM) {
		return true
	}
	return OutOfMemoryText(err.Error())
}

// OutOfMemoryText reports whether text (an error message, a process's
// stderr) says that memory ran out.
func OutOfMemoryText(text string) bool {
	t := strings.ToLower(text)
	for _, s := range oomTexts {
		if strings.Contains(t, s) {
			return true
		}
	}
	return false
}

// allocSize finds the size of the allocation that failed in the
// libraries' messages (see oomTexts).
var allocSize = regexp.MustCompile(`(?i)(?:cannot allocate (\d+)-byte block|buffer of size (\d+)|allocate (\d+) bytes)`)

// MemoryRequested returns the size in bytes of the allocation that failed,
// where text says it (0 otherwise; the largest when it names several).
func MemoryRequested(text string) int64 {
	var most int64
	for _, m := range allocSize.FindAllStringSubmatch(text, -1) {
		for _, g := range m[1:] {
			if g == "" {
				continue
			}
			if n, err := strconv.ParseInt(g, 10, 64); err == nil && n > most {
				most = n
			}
		}
	}
	return most
}
