package state

import (
	"net/netip"
	"time"
)

// Kind is how an instance is networked.
type Kind string

// The kinds of instance.
const (
	// Fat is a container people treat as a small host: its own IP on a
	// VLAN, a hostname from that IP, its own /etc/hosts.
	Fat Kind = "fat"
	// Thin uses the host's network (no IP of its own, no veth), as JD ran
	// caches; it still has its own cgroup limits and image rootfs.
	Thin Kind = "thin"
)

// Instance is one container the controller wants on a node: the value of
// DesiredKey. The controller bumps Generation on every change.
type Instance struct {
	ID         string `json:"id"`
	App        string `json:"app"`
	Node       string `json:"node"`
	Generation int64  `json:"generation"`
	// RequestID is the API call that caused this generation.
	RequestID string `json:"request_id"`
	// AppGeneration is the generation of the App spec this instance was
	// made from (0 when written without a controller).
	AppGeneration int64 `json:"app_generation,omitempty"`

	Image   string   `json:"image"`
	Command []string `json:"command,omitempty"`
	Env     []string `json:"env,omitempty"`
	// User is "UID" or "UID:GID"; empty runs as root inside the container.
	User string `json:"user,omitempty"`
	Kind Kind   `json:"kind"`

	Resources Resources `json:"resources"`
	Network   *Network  `json:"network,omitempty"`
	Volume    *Volume   `json:"volume,omitempty"`
	// Binds are node directories bound in (bind.go).
	Binds []Bind `json:"binds,omitempty"`
	// WritableRoot leaves / writable; the default is read-only, with the
	// data volume the place to write (JD's /export).
	WritableRoot bool `json:"writable_root,omitempty"`
	// NoProcView turns off the live /proc files the agent mounts.
	NoProcView bool `json:"no_procview,omitempty"`
	// Stopped keeps the instance created but not running.
	Stopped bool `json:"stopped,omitempty"`
}

// Resources are an instance's cgroup limits. Zero means unlimited.
type Resources struct {
	// CPUs is the CPU quota in cores (0.5 = half a core).
	CPUs float64 `json:"cpus,omitempty"`
	// CPUSet pins the instance to these CPUs ("0-3,6").
	CPUSet string `json:"cpuset,omitempty"`
	// CPUWeight is the relative weight 1..10000 (cgroup v2 scale).
	CPUWeight uint64 `json:"cpu_weight,omitempty"`
	// MemoryBytes is the memory limit; at least MinMemoryBytes.
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	// PIDs is the largest number of processes and threads.
	PIDs int64 `json:"pids,omitempty"`
	// IOWeight is the relative block I/O weight 10..1000.
	IOWeight uint16 `json:"io_weight,omitempty"`
	// Devices are per-device bandwidth and IOPS limits.
	Devices []DeviceLimit `json:"devices,omitempty"`
}

// DeviceLimit limits I/O on one block device, named "MAJOR:MINOR".
type DeviceLimit struct {
	Device    string `json:"device"`
	ReadBps   uint64 `json:"read_bps,omitempty"`
	WriteBps  uint64 `json:"write_bps,omitempty"`
	ReadIOPS  uint64 `json:"read_iops,omitempty"`
	WriteIOPS uint64 `json:"write_iops,omitempty"`
}

// Network is a fat instance's place on a VLAN. The controller allocates IP
// from the VLAN's cluster-wide pool.
type Network struct {
	VLAN    int          `json:"vlan"`
	IP      netip.Prefix `json:"ip"`
	Gateway netip.Addr   `json:"gateway,omitzero"`
	// EgressBps and IngressBps are rate limits in bits per second.
	EgressBps  uint64 `json:"egress_bps,omitempty"`
	IngressBps uint64 `json:"ingress_bps,omitempty"`
}

// Volume is an instance's writable data volume, of a fixed size, mounted at
// Mount. It outlives the instance until it is removed explicitly.
type Volume struct {
	SizeBytes int64  `json:"size_bytes"`
	Mount     string `json:"mount"`
}

// Phase is where an instance is in its life.
type Phase string

// The phases an agent reports.
const (
	Pending   Phase = "Pending"   // seen, not yet acted on
	Creating  Phase = "Creating"  // image, rootfs, network, container being made
	Running   Phase = "Running"   // its process runs
	Stopped   Phase = "Stopped"   // created and stopped on request
	CrashLoop Phase = "CrashLoop" // its process keeps exiting; restarted with backoff
	Failed    Phase = "Failed"    // cannot be made: Reason and Field say why
)

// Status is what a node's agent reports of an instance: the value of
// StatusKey.
type Status struct {
	ID   string `json:"id"`
	App  string `json:"app"`
	Node string `json:"node"`
	// Generation is the desired generation this status describes.
	Generation int64 `json:"generation"`
	// RequestID is the request of that generation.
	RequestID string    `json:"request_id"`
	Phase     Phase     `json:"phase"`
	IP        string    `json:"ip,omitempty"`
	PID       int       `json:"pid,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Restarts  int       `json:"restarts"`
	// Reason is a stable word for the last error ("InvalidSpec",
	// "ImageNotFound", "IPConflict", "StartFailed", "Exited").
	Reason string `json:"reason,omitempty"`
	// Field names the spec field a Failed instance could not meet.
	Field     string    `json:"field,omitempty"`
	Message   string    `json:"message,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Capacity is what a node can give its instances.
type Capacity struct {
	CPUs        float64 `json:"cpus"`
	MemoryBytes int64   `json:"memory_bytes"`
	DiskBytes   int64   `json:"disk_bytes"`
}

// Node is an agent's report of its node: the value of NodeKey, under the
// agent's lease.
type Node struct {
	Name string `json:"name"`
	// Addr is the agent's API (metrics, logs, blobs), "host:port".
	Addr     string            `json:"addr"`
	Zone     string            `json:"zone,omitempty"`
	Room     string            `json:"room,omitempty"`
	Rack     string            `json:"rack,omitempty"`
	Switch   string            `json:"switch,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Capacity Capacity          `json:"capacity"`
	// Images are the image references the node's store holds.
	Images    []string  `json:"images,omitempty"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
}

// SimulatedVersion is the Node.Version of simulated nodes (package
// simnode): they run nothing, and whatever shows a node says so.
const SimulatedVersion = "simulated"

// Priority is how much an Event matters.
type Priority string

// The priorities of events.
const (
	Info    Priority = "info"
	Warning Priority = "warning"
	Error   Priority = "error"
)

// Event is one line of the message-tracking list: who did what, for which
// request, to which instance, and why.
type Event struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id,omitempty"`
	// Publisher is who wrote it: "controller", "agent/NODE".
	Publisher string   `json:"publisher"`
	Kind      string   `json:"kind"`
	Priority  Priority `json:"priority"`
	App       string   `json:"app,omitempty"`
	Instance  string   `json:"instance,omitempty"`
	Node      string   `json:"node,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	Message   string   `json:"message,omitempty"`
}
