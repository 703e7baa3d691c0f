package procview

import "path"

// File is one file the view serves: its path under the mount point and the
// host file it stands for.
type File struct {
	// Path is the file's path under the mount point ("proc/meminfo").
	Path string
	// Target is the host path the file is bind-mounted over inside a
	// container ("/proc/meminfo").
	Target string
}

// Files returns the files the view serves, in a fixed order: the seven
// /proc files and the online CPU list of /sys.
func Files() []File {
	out := make([]File, 0, nodeCount)
	for _, n := range fileTable() {
		if n.kind != kindDir {
			out = append(out, File{Path: n.path, Target: "/" + n.path})
		}
	}
	return out
}

// nodeKind tells which content a node renders.
type nodeKind int

const (
	kindDir nodeKind = iota
	kindMeminfo
	kindCPUInfo
	kindStat
	kindUptime
	kindLoadavg
	kindDiskstats
	kindSwaps
	kindCPUOnline
)

// node is one inode of the view. Node ids are fixed by the table's order
// (the root is 1, FUSE_ROOT_ID), so that a server started after a restart
// answers for the ids the kernel learnt from its predecessor.
type node struct {
	path   string // "" for the root
	kind   nodeKind
	parent uint64
}

// nodeCount is the number of inodes.
const nodeCount = 14

// fileTable returns every inode: its index+1 is its node id. Entries are
// only ever appended, never reordered: ids are part of the handover
// contract.
func fileTable() [nodeCount]node {
	return [nodeCount]node{
		{path: "", kind: kindDir},                                                // 1
		{path: "proc", kind: kindDir, parent: 1},                                 // 2
		{path: "proc/meminfo", kind: kindMeminfo, parent: 2},                     // 3
		{path: "proc/cpuinfo", kind: kindCPUInfo, parent: 2},                     // 4
		{path: "proc/stat", kind: kindStat, parent: 2},                           // 5
		{path: "proc/uptime", kind: kindUptime, parent: 2},                       // 6
		{path: "proc/loadavg", kind: kindLoadavg, parent: 2},                     // 7
		{path: "proc/diskstats", kind: kindDiskstats, parent: 2},                 // 8
		{path: "proc/swaps", kind: kindSwaps, parent: 2},                         // 9
		{path: "sys", kind: kindDir, parent: 1},                                  // 10
		{path: "sys/devices", kind: kindDir, parent: 10},                         // 11
		{path: "sys/devices/system", kind: kindDir, parent: 11},                  // 12
		{path: "sys/devices/system/cpu", kind: kindDir, parent: 12},              // 13
		{path: "sys/devices/system/cpu/online", kind: kindCPUOnline, parent: 13}, // 14
	}
}

// nodeByID returns the node with id, or false.
func nodeByID(id uint64) (node, bool) {
	if id < 1 || id > uint64(nodeCount) {
		return node{}, false
	}
	return fileTable()[id-1], true
}

// lookup returns the id of name in directory parent, or 0.
func lookup(parent uint64, name string) uint64 {
	for i, n := range fileTable() {
		if n.parent == parent && n.path != "" && path.Base(n.path) == name {
			return uint64(i) + 1
		}
	}
	return 0
}

// hostPath is the host file a node stands for.
func (n node) hostPath() string { return "/" + n.path }
