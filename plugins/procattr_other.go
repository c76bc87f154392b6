//go:build !linux

package plugins

import (
	"os/exec"
	"syscall"
)

var pdeathsig = false

// sysProcAttr: other systems have no parent-death signal; plugins watch
// their parent pid instead (see watchParent).
func sysProcAttr() *syscall.SysProcAttr { return nil }

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }
