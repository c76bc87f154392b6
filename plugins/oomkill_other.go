//go:build !linux

package plugins

// oomKills cannot tell OOM kills apart from other SIGKILLs here.
func oomKills() (int64, bool) { return 0, false }
