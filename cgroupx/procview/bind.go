package procview

import (
	"bytes"
	"path/filepath"

	"github.com/shoalkit/shoal/cgroupx"
)

// BindMount is one read-only bind mount of a view file into a container.
type BindMount struct {
	// Source is the view's file on the host ("/var/lib/shoal/procview/proc/meminfo").
	Source string
	// Destination is where it goes inside the container ("/proc/meminfo").
	Destination string
}

// BindMounts returns the read-only bind mounts that put the view mounted
// at mountPoint over a container's own files, in the order they must be
// mounted (after the container's /proc and /sys).
func BindMounts(mountPoint string) []BindMount {
	files := Files()
	out := make([]BindMount, 0, len(files))
	for _, f := range files {
		out = append(out, BindMount{Source: filepath.Join(mountPoint, f.Path), Destination: f.Target})
	}
	return out
}

// Mounted reports whether the view is mounted at mountPoint, in this
// thread's mount namespace: the agent adds the bind mounts to a container
// only then (a container would not start with a missing source, and an
// unmounted directory would show it nothing).
func Mounted(mountPoint string) (bool, error) {
	b, err := readBounded("/proc/thread-self/mountinfo", 16<<20)
	if err != nil {
		return false, err
	}
	mounts, err := cgroupx.ParseMountinfo(bytes.NewReader(b))
	if err != nil {
		return false, wrapError(ErrInvalid, err, "mountinfo")
	}
	want := filepath.Clean(mountPoint)
	found := false
	for _, m := range mounts {
		if m.MountPoint == want {
			found = m.FSType == "fuse.procview" // the last mount on a point is the visible one
		}
	}
	return found, nil
}
