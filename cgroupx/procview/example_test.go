package procview_test

import (
	"fmt"
	"strings"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/cgroupx/procview"
)

// The agent bind-mounts these read-only into every fat container's
// rootfs, after its /proc and /sys.
func ExampleBindMounts() {
	for _, m := range procview.BindMounts("/var/lib/shoal/procview") {
		fmt.Println(m.Source, "->", m.Destination)
	}
	// Output:
	// /var/lib/shoal/procview/proc/meminfo -> /proc/meminfo
	// /var/lib/shoal/procview/proc/cpuinfo -> /proc/cpuinfo
	// /var/lib/shoal/procview/proc/stat -> /proc/stat
	// /var/lib/shoal/procview/proc/uptime -> /proc/uptime
	// /var/lib/shoal/procview/proc/loadavg -> /proc/loadavg
	// /var/lib/shoal/procview/proc/diskstats -> /proc/diskstats
	// /var/lib/shoal/procview/proc/swaps -> /proc/swaps
	// /var/lib/shoal/procview/sys/devices/system/cpu/online -> /sys/devices/system/cpu/online
}

// Which container a reader belongs to is read from its /proc/PID/cgroup.
func ExampleContainerOf() {
	lines, _ := cgroupx.ParseProcCgroup(strings.NewReader("0::/shoal/web-1/worker\n"))
	fmt.Printf("%q\n", procview.ContainerOf([]string{"/shoal"}, lines))
	lines, _ = cgroupx.ParseProcCgroup(strings.NewReader("0::/user.slice/session-4.scope\n"))
	fmt.Printf("%q\n", procview.ContainerOf([]string{"/shoal"}, lines))
	// Output:
	// "/shoal/web-1"
	// ""
}

func ExampleAppendSwaps() {
	b := procview.AppendSwaps(nil, cgroupx.Meminfo{SwapTotal: 512 << 20, SwapFree: 384 << 20})
	fmt.Print(strings.ReplaceAll(string(b), "\t", " "))
	// Output:
	// Filename    Type  Size  Used  Priority
	// none                                    virtual  524288  131072  0
}
