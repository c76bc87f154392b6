package benchutil

import (
	"math"
	"syscall"
)

func cpuSeconds() float64 {
	h, err := syscall.GetCurrentProcess()
	if err != nil {
		return math.NaN()
	}
	var creation, exit, kernel, user syscall.Filetime
	if err := syscall.GetProcessTimes(h, &creation, &exit, &kernel, &user); err != nil {
		return math.NaN()
	}
	// FILETIME durations count 100 ns intervals.
	ticks := func(f syscall.Filetime) float64 { return float64(int64(f.HighDateTime)<<32|int64(f.LowDateTime)) / 1e7 }
	return ticks(kernel) + ticks(user)
}
