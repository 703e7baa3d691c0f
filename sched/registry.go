package sched

import "slices"

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
// The zero Registry is empty: it holds no built-in plugin.
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
	if r.factories == nil {
		r.factories = make(map[string]Factory)
	}
	r.factories[name] = f
	return nil
}

// Factory returns the factory registered under name, for instance to
// wrap a built-in plugin or to register it in another registry.
func (r *Registry) Factory(name string) (Factory, bool) {
	f, ok := r.factories[name]
	return f, ok
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
