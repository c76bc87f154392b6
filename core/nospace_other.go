//go:build !unix

package core

import "syscall"

// noSpaceErrnos are the errors a write gets for lack of space.
var noSpaceErrnos = []error{syscall.ENOSPC}
