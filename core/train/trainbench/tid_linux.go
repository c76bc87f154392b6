package trainbench

import (
	"strconv"
	"syscall"
)

// osThreadID is the id of the calling OS thread, the name of its entry
// in /proc/self/task.
func osThreadID() string { return strconv.Itoa(syscall.Gettid()) }
