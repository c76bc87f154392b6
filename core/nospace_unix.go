//go:build unix

package core

import "syscall"

// noSpaceErrnos are the errors a write gets for lack of space: a full
// disk, a quota, a file size limit (RLIMIT_FSIZE).
var noSpaceErrnos = []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EFBIG}
