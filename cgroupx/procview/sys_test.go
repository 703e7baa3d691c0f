package procview_test

import (
	"errors"
	"fmt"
	"syscall"
)

func syscallKill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

func errorsIs(err, kind error) bool { return errors.Is(err, kind) }

func fmtSscan(s string, v *int) (int, error) { return fmt.Sscan(s, v) }
