//go:build unix

package storm_test

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system, all threads, GC
// included) the process has used so far: on a shared machine it, not the
// wall time, says what an operation costs.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
