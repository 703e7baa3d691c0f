package kubepeer

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system, all threads, the
// garbage collector's included) the process has used so far; both
// schedulers run in this process, one after the other.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
