//go:build !unix && !windows

package trainbench

import "time"

// processCPU: no process CPU time here (CPUMS reads 0).
func processCPU() time.Duration { return 0 }
