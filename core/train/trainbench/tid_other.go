//go:build !linux

package trainbench

// osThreadID: other systems have no /proc/self/task, so the sampler that
// leaves its own thread out never runs (threadCPU fails first).
func osThreadID() string { return "" }
