//go:build !unix && !windows

package benchutil

import "math"

func cpuSeconds() float64 { return math.NaN() }
