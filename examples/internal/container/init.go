package container

import (
	"os"

	// The cgroup manager sets device rules only with this linked in.
	_ "github.com/opencontainers/cgroups/devices"

	"github.com/opencontainers/runc/libcontainer"
	// nsenter joins namespaces in a C constructor before the Go runtime
	// starts; it must be linked into the binary that is the container's init.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

// Init is the container's init when this process was started as one (its
// first argument is "init"); it then never returns. Otherwise it returns at
// once. Call it first thing in main, and in TestMain of tests that start
// containers.
func Init() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init()
	}
}
