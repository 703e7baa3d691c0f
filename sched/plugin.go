package sched

import (
	"slices"
)

// Code is the outcome of a plugin call.
type Code int

const (
	// Success means the node passes. A nil *Status also means success.
	Success Code = iota
	// Unschedulable means the node fails now but could pass after a change of
	// the inventory (capacity freed, an instance released).
	Unschedulable
	// UnschedulableAndUnresolvable means the node cannot pass for this request
	// whatever is released (wrong zone, missing topology key).
	UnschedulableAndUnresolvable
	// Skip means, returned by PreFilter or PreScore, that the plugin has nothing
	// to do for this request: its Filter or Score is not called.
	Skip
)

// Status is a plugin's verdict with a short reason. A nil *Status is
// success. Plugins return the same *Status value for the same reason so
// the per-node loop does not allocate.
type Status struct {
	code   Code
	reason string
}

// NewStatus returns a status with a code and a reason.
func NewStatus(code Code, reason string) *Status { return &Status{code: code, reason: reason} }

// Code returns the status code; Success for a nil status.
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// Reason returns the status reason; "" for a nil status.
func (s *Status) Reason() string {
	if s == nil {
		return ""
	}
	return s.reason
}

// IsSuccess reports whether the status is nil or Success.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// Plugin is the common part of every plugin.
type Plugin interface {
	// Name identifies the plugin in configuration and why-not answers.
	Name() string
}

// FilterPlugin decides whether a node can take one replica of the request.
// It is called once per node per replica, so it must not allocate. In
// exact mode Filter runs on several goroutines at once for different nodes
// (see Config.Parallelism): it must only read the plugin's state, which
// PreFilter may write.
type FilterPlugin interface {
	Plugin
	Filter(c *Cycle, n *NodeInfo) *Status
}

// ScorePlugin rates a feasible node from 0 to MaxScore; higher is better.
// It is called once per feasible node per replica, concurrently like
// Filter, so it must only read state that PreScore prepared.
type ScorePlugin interface {
	Plugin
	Score(c *Cycle, n *NodeInfo) int64
}

// PreFilterPlugin is optionally implemented by a FilterPlugin that
// prepares per-replica state once before the node loop. Returning a Skip
// status leaves the plugin out for this replica; any other non-nil status
// rejects every node with that reason.
type PreFilterPlugin interface {
	PreFilter(c *Cycle) *Status
}

// PreScorePlugin is optionally implemented by a ScorePlugin that prepares
// per-replica state; a Skip status leaves the plugin out.
type PreScorePlugin interface {
	PreScore(c *Cycle) *Status
}

// Explainer is optionally implemented by a FilterPlugin to say what would
// have to change when a replica cannot be placed. blocked holds the nodes
// that only this filter rejected (they pass all the others). It runs only
// on failure and may allocate.
type Explainer interface {
	Explain(c *Cycle, blocked []*NodeInfo) []string
}

// MaxScore is the highest score a ScorePlugin returns.
const MaxScore = 100

// Factory builds a plugin for one Scheduler; plugins may keep per-scheduler
// state since a Scheduler never runs two cycles at once.
type Factory func() (Plugin, error)

// The names of the built-in plugins.
const (
	PluginTaintToleration = "TaintToleration" // filter and score: cordon, NoSchedule; PreferNoSchedule
	PluginZoneLevel       = "ZoneLevel"       // filter: Request.Zones and Level
	PluginNetworkZone     = "NetworkZone"     // filter: Request.NetZone
	PluginNodeLabels      = "NodeLabels"      // filter: Request.NodeSelector
	PluginResourceFit     = "ResourceFit"     // filter: cpu, memory, disk, IPs left on the VLAN
	PluginAntiAffinity    = "AntiAffinity"    // filter: at most k instances per domain
	PluginHardSpread      = "HardSpread"      // filter: max skew across domains
	PluginSoftSpread      = "SoftSpread"      // score: emptier domains first
	PluginImageLocality   = "ImageLocality"   // score: nodes holding the image, by size
	PluginLeastAllocated  = "LeastAllocated"  // score: spread load
	PluginMostAllocated   = "MostAllocated"   // score: bin-pack
	PluginBalanced        = "BalancedAllocation"
)

// Registry maps plugin names to factories. There is no global registry:
// build one with NewRegistry, add your own plugins, and pass it to New.
type Registry struct {
	factories map[string]Factory
}

// NewRegistry returns a registry holding the built-in plugins.
func NewRegistry() *Registry {
	r := &Registry{factories: make(map[string]Factory)}
	builtin := map[string]Factory{
		PluginTaintToleration: func() (Plugin, error) { return newTaintToleration(), nil },
		PluginZoneLevel:       func() (Plugin, error) { return newZoneLevel(), nil },
		PluginNetworkZone:     func() (Plugin, error) { return newNetworkZone(), nil },
		PluginNodeLabels:      func() (Plugin, error) { return newNodeLabels(), nil },
		PluginResourceFit:     func() (Plugin, error) { return newResourceFit(), nil },
		PluginAntiAffinity:    func() (Plugin, error) { return newAntiAffinity(), nil },
		PluginHardSpread:      func() (Plugin, error) { return newHardSpread(), nil },
		PluginSoftSpread:      func() (Plugin, error) { return &softSpread{}, nil },
		PluginImageLocality:   func() (Plugin, error) { return &imageLocality{}, nil },
		PluginLeastAllocated:  func() (Plugin, error) { return &leastAllocated{}, nil },
		PluginMostAllocated:   func() (Plugin, error) { return &mostAllocated{}, nil },
		PluginBalanced:        func() (Plugin, error) { return &balancedAllocation{}, nil },
	}
	for name, f := range builtin {
		r.factories[name] = f
	}
	return r
}

// Register adds a plugin factory. It returns ErrInvalid for an empty name
// or nil factory and ErrConflict if the name is taken.
func (r *Registry) Register(name string, f Factory) error {
	if name == "" {
		return newError(ErrInvalid, "plugin name: empty")
	}
	if f == nil {
		return newError(ErrInvalid, "plugin %q: nil factory", name)
	}
	if _, ok := r.factories[name]; ok {
		return newError(ErrConflict, "plugin %q already registered", name)
	}
	r.factories[name] = f
	return nil
}

// Names returns the registered plugin names, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.factories))
	for n := range r.factories {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (r *Registry) build(name string) (Plugin, error) {
	f, ok := r.factories[name]
	if !ok {
		return nil, newError(ErrNotFound, "plugin %q not in the registry", name)
	}
	p, err := f()
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "building plugin %q", name)
	}
	if p == nil {
		return nil, newError(ErrInvalid, "plugin %q: factory returned nil", name)
	}
	if p.Name() != name {
		return nil, newError(ErrInvalid, "plugin registered as %q calls itself %q", name, p.Name())
	}
	return p, nil
}
