package procview

import "path/filepath"

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
