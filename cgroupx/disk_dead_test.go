package cgroupx

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDeadMount(t *testing.T) {
	for _, tt := range []struct {
		err  error
		dead bool
	}{
		{unix.ENOTCONN, true},
		{unix.ECONNABORTED, true},
		{unix.ESTALE, true},
		{unix.EACCES, true},
		{unix.EPERM, true},
		{unix.EIO, true},
		{fmt.Errorf("statfs /x: %w", unix.ENOTCONN), true},
		{unix.EINVAL, false},
		{unix.ENAMETOOLONG, false},
		{unix.ELOOP, false},
	} {
		if got := deadMount(tt.err); got != tt.dead {
			t.Errorf("deadMount(%v) = %v, want %v", tt.err, got, tt.dead)
		}
	}
}
