package plugins

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// pdeathsig is turned off by tests that check the plugin's own parent
// watch.
var pdeathsig = true

// sysProcAttr asks Linux to SIGKILL the plugin when the runner dies, even
// by SIGKILL, so that no plugin outlives it.
func sysProcAttr() *syscall.SysProcAttr {
	if !pdeathsig {
		return nil
	}
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// Linux sends the parent-death signal when the *thread* that forked the
// child exits, not the process. Go threads normally live as long as the
// process, but one locked by a goroutine that exits is destroyed. So every
// plugin is forked from one goroutine locked to its own thread that never
// exits.
var spawner struct {
	once sync.Once
	jobs chan func()
}

func startCmd(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.jobs = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives on
			for job := range spawner.jobs {
				job()
			}
		}()
	})
	errc := make(chan error, 1)
	spawner.jobs <- func() { errc <- cmd.Start() }
	return <-errc
}
