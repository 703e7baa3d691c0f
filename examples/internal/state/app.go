package state

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"
)

// AppSpec is what a team asks for: the body of a deploy, the value users
// keep in app.json. The controller turns it into Instances.
type AppSpec struct {
	Name string `json:"name"`
	// Team owns the app; its Quota bounds what the app may take.
	Team string `json:"team"`

	Image   string   `json:"image"`
	Command []string `json:"command,omitempty"`
	Env     []string `json:"env,omitempty"`
	User    string   `json:"user,omitempty"`
	// Kind is Fat (own IP on Network.VLAN, the default) or Thin.
	Kind      Kind      `json:"kind,omitempty"`
	Resources Resources `json:"resources"`
	// Replicas is how many instances run; with Autoscale it is the
	// starting count.
	Replicas  int            `json:"replicas"`
	Autoscale *AutoscaleSpec `json:"autoscale,omitempty"`
	Placement PlacementSpec  `json:"placement,omitzero"`
	Network   *AppNetwork    `json:"network,omitempty"`
	Volume    *Volume        `json:"volume,omitempty"`
	Update    UpdateSpec     `json:"update,omitzero"`

	WritableRoot bool `json:"writable_root,omitempty"`
	NoProcView   bool `json:"no_procview,omitempty"`
}

// PlacementSpec says where an app's instances may go and how they spread.
type PlacementSpec struct {
	// Zones restricts placement to these compute zones.
	Zones []string `json:"zones,omitempty"`
	// Level restricts placement to nodes of this service level.
	Level string `json:"level,omitempty"`
	// NetZone restricts placement to this network zone.
	NetZone string `json:"net_zone,omitempty"`
	// NodeSelector restricts placement to nodes with these labels.
	NodeSelector map[string]string `json:"node_selector,omitempty"`
	// Spread lists rules spreading the instances over "rack", "switch",
	// "room", "zone" or "node".
	Spread []SpreadSpec `json:"spread,omitempty"`
	// AntiAffinity caps instances per domain ({"key": "node", "max": 1}).
	AntiAffinity []AntiAffinitySpec `json:"anti_affinity,omitempty"`
}

// SpreadSpec spreads instances over the domains of Key with at most MaxSkew
// between the fullest and the emptiest; Soft only prefers it.
type SpreadSpec struct {
	Key     string `json:"key"`
	MaxSkew int    `json:"max_skew,omitempty"`
	Soft    bool   `json:"soft,omitempty"`
}

// AntiAffinitySpec allows at most Max instances in one domain of Key.
type AntiAffinitySpec struct {
	Key string `json:"key"`
	Max int    `json:"max"`
}

// AppNetwork puts a fat app's instances on a VLAN whose pool (a Network
// under NetworkKey) the controller allocates from.
type AppNetwork struct {
	VLAN       int    `json:"vlan"`
	EgressBps  uint64 `json:"egress_bps,omitempty"`
	IngressBps uint64 `json:"ingress_bps,omitempty"`
	// Port is the service port an app's endpoints list.
	Port int `json:"port,omitempty"`
}

// UpdateSpec shapes a rolling update.
type UpdateSpec struct {
	// BatchSize is how many instances are replaced at once; 0 means 1.
	BatchSize int `json:"batch_size,omitempty"`
	// MaxUnavailable is how many instances may be not running during the
	// update before it waits; 0 means BatchSize.
	MaxUnavailable int `json:"max_unavailable,omitempty"`
	// FailAfter is how long a replaced instance may take to run before the
	// update is called failed and rolled back; 0 means 60 s.
	FailAfter Duration `json:"fail_after,omitzero"`
}

// AutoscaleSpec turns on the controller's autoscale loop for an app.
type AutoscaleSpec struct {
	Min int `json:"min"`
	Max int `json:"max"`
	// CPUPercent is the target CPU use in percent of the instances' CPUs.
	CPUPercent int `json:"cpu_percent,omitempty"`
	// Connections is the target TCP connections per instance.
	Connections float64 `json:"connections,omitempty"`
	// TPS is the target transactions per second for the whole app, read
	// from TPSMetric (a counter) on each instance's MetricsPort.
	TPS         float64 `json:"tps,omitempty"`
	TPSMetric   string  `json:"tps_metric,omitempty"`
	MetricsPort int     `json:"metrics_port,omitempty"`
	// SustainedLow is how long the metrics must stay below half their
	// target before a scale-in (0: no such rule).
	SustainedLow Duration `json:"sustained_low,omitzero"`
	// ScaleInWindow is the scale-in stabilisation window: the highest
	// recommendation of this window wins. 0 means 5 min, as Kubernetes.
	ScaleInWindow Duration `json:"scale_in_window,omitzero"`
	// MigrationBps caps the data moved per second when a cache-like app
	// scales in (0 = no cap), with MigrationBytes per instance to move.
	MigrationBps   float64 `json:"migration_bps,omitempty"`
	MigrationBytes float64 `json:"migration_bytes,omitempty"`
	// Approve makes the loop propose decisions that a person applies
	// (CAP's semi-automatic mode) instead of applying them.
	Approve bool `json:"approve,omitempty"`
}

// Duration is a time.Duration written as "30s" in JSON.
type Duration time.Duration

// MarshalText writes d as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads "30s", "5m".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return invalid("duration %.40q: %v", b, err)
	}
	*d = Duration(v)
	return nil
}

// App is an app as the controller keeps it under AppKey: the spec, its
// generation, and how the last change is rolling out.
type App struct {
	Spec AppSpec `json:"spec"`
	// Generation is bumped on every change of Spec.
	Generation int64 `json:"generation"`
	// RequestID is the API call that made this generation.
	RequestID string    `json:"request_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Previous is the spec before the last change, for a roll back.
	Previous *AppSpec `json:"previous,omitempty"`
	// PreviousGeneration is Previous's generation.
	PreviousGeneration int64   `json:"previous_generation,omitempty"`
	Rollout            Rollout `json:"rollout,omitzero"`
}

// RolloutPhase is where an app's last change is.
type RolloutPhase string

// The rollout phases.
const (
	RolloutDone       RolloutPhase = "Done"
	RolloutProgress   RolloutPhase = "Progressing"
	RolloutRolledBack RolloutPhase = "RolledBack"
)

// Rollout is the state of an app's rolling update.
type Rollout struct {
	Phase   RolloutPhase `json:"phase,omitempty"`
	Message string       `json:"message,omitempty"`
}

// NetworkPool is a VLAN's cluster-wide address pool (the value of NetworkKey):
// instances of every node on the VLAN take addresses from Subnet, never
// the gateway, the network or the broadcast address, nor below From.
type NetworkPool struct {
	VLAN    int          `json:"vlan"`
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Addr   `json:"gateway,omitzero"`
	// From is the first address handed out; zero means the subnet's
	// second address.
	From netip.Addr `json:"from,omitzero"`
}

// Quota bounds what a team's apps take together; zero fields are
// unlimited.
type Quota struct {
	CPUs        float64 `json:"cpus,omitempty"`
	MemoryBytes int64   `json:"memory_bytes,omitempty"`
	Instances   int     `json:"instances,omitempty"`
}

// Usage is what an app has held and used since Since, for showback: the
// allocated figures integrate its instances' resources over time, the used
// ones what the agents measured. The leading controller adds to it every
// accounting pass.
type Usage struct {
	App            string    `json:"app"`
	Team           string    `json:"team"`
	Since          time.Time `json:"since"`
	UpdatedAt      time.Time `json:"updated_at"`
	AllocCoreHours float64   `json:"allocated_core_hours"`
	AllocGiBHours  float64   `json:"allocated_gib_hours"`
	UsedCoreHours  float64   `json:"used_core_hours"`
	UsedGiBHours   float64   `json:"used_gib_hours"`
}

// Topology keys an app's placement rules may name.
var topologyKeys = []string{"node", "rack", "switch", "room", "zone"}

// MaxReplicas bounds AppSpec.Replicas and AutoscaleSpec.Max.
const MaxReplicas = 10000

// Validate checks every field of an AppSpec; the error names the first
// field that is wrong.
func (s *AppSpec) Validate() error {
	if !ValidName(s.Name) {
		return fieldErr("name", "%q is not a name (1..63 of a-z, 0-9, '-')", s.Name)
	}
	if !ValidName(s.Team) {
		return fieldErr("team", "%q is not a name (1..63 of a-z, 0-9, '-')", s.Team)
	}
	if s.Replicas < 0 || s.Replicas > MaxReplicas {
		return fieldErr("replicas", "%d outside 0..%d", s.Replicas, MaxReplicas)
	}
	// The instance rules apply to the template as they do to an Instance.
	in := s.Template()
	in.ID, in.Node, in.Generation = "x", "x", 1
	switch s.Kind {
	case "", Fat:
		if s.Network == nil {
			return fieldErr("network", "a fat app needs a VLAN")
		}
		in.Network = &Network{VLAN: s.Network.VLAN, IP: netip.MustParsePrefix("10.0.0.2/24")}
	case Thin:
		if s.Network != nil && s.Network.VLAN != 0 {
			return fieldErr("network.vlan", "a thin app uses the host's network")
		}
	}
	if err := in.Validate(); err != nil {
		return err
	}
	if n := s.Network; n != nil && (n.Port < 0 || n.Port > 65535) {
		return fieldErr("network.port", "%d outside 0..65535", n.Port)
	}
	if err := s.Placement.validate(); err != nil {
		return err
	}
	if err := s.Update.validate(); err != nil {
		return err
	}
	if a := s.Autoscale; a != nil {
		return a.validate()
	}
	return nil
}

func (p *PlacementSpec) validate() error {
	if len(p.Zones) > 64 || len(p.NodeSelector) > 64 || len(p.Spread) > len(topologyKeys) || len(p.AntiAffinity) > len(topologyKeys) {
		return fieldErr("placement", "too many zones, selectors or rules")
	}
	for i, z := range p.Zones {
		if !ValidName(z) {
			return fieldErr(fmt.Sprintf("placement.zones[%d]", i), "%q is not a name", z)
		}
	}
	for k, v := range p.NodeSelector {
		if k == "" || len(k) > 128 || len(v) > 256 || !printable(k) || !printable(v) {
			return fieldErr("placement.node_selector", "%.40q=%.40q is not a label", k, v)
		}
	}
	seen := map[string]bool{}
	for i, r := range p.Spread {
		f := fmt.Sprintf("placement.spread[%d]", i)
		switch {
		case !isTopologyKey(r.Key):
			return fieldErr(f+".key", "%q, want one of %s", r.Key, strings.Join(topologyKeys, ", "))
		case seen[r.Key]:
			return fieldErr(f+".key", "%q twice", r.Key)
		case r.MaxSkew < 0 || r.MaxSkew > MaxReplicas:
			return fieldErr(f+".max_skew", "%d outside 0..%d", r.MaxSkew, MaxReplicas)
		}
		seen[r.Key] = true
	}
	clear(seen)
	for i, r := range p.AntiAffinity {
		f := fmt.Sprintf("placement.anti_affinity[%d]", i)
		switch {
		case !isTopologyKey(r.Key):
			return fieldErr(f+".key", "%q, want one of %s", r.Key, strings.Join(topologyKeys, ", "))
		case seen[r.Key]:
			return fieldErr(f+".key", "%q twice", r.Key)
		case r.Max < 1 || r.Max > MaxReplicas:
			return fieldErr(f+".max", "%d outside 1..%d", r.Max, MaxReplicas)
		}
		seen[r.Key] = true
	}
	return nil
}

func isTopologyKey(k string) bool {
	for _, t := range topologyKeys {
		if k == t {
			return true
		}
	}
	return false
}

func (u *UpdateSpec) validate() error {
	switch {
	case u.BatchSize < 0 || u.BatchSize > MaxReplicas:
		return fieldErr("update.batch_size", "%d outside 0..%d", u.BatchSize, MaxReplicas)
	case u.MaxUnavailable < 0 || u.MaxUnavailable > MaxReplicas:
		return fieldErr("update.max_unavailable", "%d outside 0..%d", u.MaxUnavailable, MaxReplicas)
	case u.FailAfter < 0 || time.Duration(u.FailAfter) > 24*time.Hour:
		return fieldErr("update.fail_after", "%v outside 0..24h", time.Duration(u.FailAfter))
	}
	return nil
}

func (a *AutoscaleSpec) validate() error {
	switch {
	case a.Min < 0 || a.Max < 1 || a.Max > MaxReplicas || a.Min > a.Max:
		return fieldErr("autoscale.max", "min %d, max %d: want 0 ≤ min ≤ max, 1 ≤ max ≤ %d", a.Min, a.Max, MaxReplicas)
	case a.CPUPercent < 0 || a.CPUPercent > 1000:
		return fieldErr("autoscale.cpu_percent", "%d outside 0..1000", a.CPUPercent)
	case bad(a.Connections) || bad(a.TPS) || bad(a.MigrationBps) || bad(a.MigrationBytes):
		return fieldErr("autoscale", "a target is negative or not a number")
	case a.CPUPercent == 0 && a.Connections == 0 && a.TPS == 0:
		return fieldErr("autoscale.cpu_percent", "no target: set cpu_percent, connections or tps")
	case a.TPS > 0 && (a.TPSMetric == "" || len(a.TPSMetric) > 200 || strings.ContainsAny(a.TPSMetric, " {}\"\n")):
		return fieldErr("autoscale.tps_metric", "%q is not a metric name", a.TPSMetric)
	case a.TPS > 0 && (a.MetricsPort < 1 || a.MetricsPort > 65535):
		return fieldErr("autoscale.metrics_port", "%d outside 1..65535", a.MetricsPort)
	case a.SustainedLow < 0 || time.Duration(a.SustainedLow) > 24*time.Hour:
		return fieldErr("autoscale.sustained_low", "%v outside 0..24h", time.Duration(a.SustainedLow))
	case a.ScaleInWindow < 0 || time.Duration(a.ScaleInWindow) > time.Hour:
		return fieldErr("autoscale.scale_in_window", "%v outside 0..1h", time.Duration(a.ScaleInWindow))
	}
	return nil
}

func bad(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) || f < 0 }

// Template is the Instance every replica of the app starts from; the
// controller fills in ID, Node, Generation, RequestID and the address.
func (s *AppSpec) Template() Instance {
	kind := s.Kind
	if kind == "" {
		kind = Fat
	}
	in := Instance{
		App: s.Name, Image: s.Image, Command: s.Command, Env: s.Env, User: s.User, Kind: kind,
		Resources: s.Resources, Volume: s.Volume, WritableRoot: s.WritableRoot, NoProcView: s.NoProcView,
	}
	return in
}

// Validate checks a NetworkPool.
func (p *NetworkPool) Validate() error {
	switch {
	case p.VLAN < 1 || p.VLAN > 4094:
		return fieldErr("vlan", "%d out of range 1..4094", p.VLAN)
	case !p.Subnet.IsValid() || !p.Subnet.Addr().Is4() || p.Subnet.Bits() < 8 || p.Subnet.Bits() > 30 || p.Subnet.Masked() != p.Subnet:
		return fieldErr("subnet", "%v, want an IPv4 network /8../30", p.Subnet)
	case p.Gateway.IsValid() && !p.Subnet.Contains(p.Gateway):
		return fieldErr("gateway", "%v outside %v", p.Gateway, p.Subnet)
	case p.From.IsValid() && !p.Subnet.Contains(p.From):
		return fieldErr("from", "%v outside %v", p.From, p.Subnet)
	}
	return nil
}

// Validate checks a Quota.
func (q *Quota) Validate() error {
	if bad(q.CPUs) || q.MemoryBytes < 0 || q.Instances < 0 {
		return fieldErr("quota", "a negative or non-numeric limit")
	}
	return nil
}
