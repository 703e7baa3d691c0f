package procview_test

import (
	"errors"
	"syscall"
)

func syscallKill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

func errorsIs(err, kind error) bool { return errors.Is(err, kind) }
