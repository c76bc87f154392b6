// Package benchutil holds what the benchmark programs under bench/ share.
package benchutil

import (
	"math"
	"syscall"
)

// CPUSeconds is the user + system CPU time of this process, all threads
// together (NaN if the kernel will not say): the steadier figure on a
// shared machine, next to wall time.
func CPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}
