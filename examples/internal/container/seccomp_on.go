//go:build linux && cgo && seccomp

package container

import (
	libseccomp "github.com/seccomp/libseccomp-golang"
)

// seccompAvailable: libcontainer's seccomp is built in (libseccomp).
const seccompAvailable = true

// libseccompNotify says whether the libseccomp this binary runs with can
// load a filter with SCMP_ACT_NOTIFY: API level 6 (libseccomp 2.5 on
// Linux 5.7 or later), which libcontainer requires for it too.
func libseccompNotify() error {
	api, err := libseccomp.GetAPI()
	if err != nil {
		return wrapError(ErrUnsupported, err, "libseccomp API level")
	}
	if api < 6 {
		return newError(ErrUnsupported, "libseccomp API level %d, seccomp user notification needs 6 (libseccomp 2.5, Linux 5.7)", api)
	}
	return nil
}
