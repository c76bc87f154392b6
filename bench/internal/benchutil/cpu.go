// Package benchutil holds what the benchmark programs under bench/ share.
package benchutil

// CPUSeconds is the user + system CPU time of this process, all threads
// together (NaN if the system will not say): the steadier figure on a
// shared machine, next to wall time.
func CPUSeconds() float64 { return cpuSeconds() }
