package sched

import (
	"strconv"
)

// Resources is an amount of compute: CPU in millicores, memory and disk in
// bytes. Negative values are invalid everywhere.
type Resources struct {
	MilliCPU int64
	Memory   int64
	Disk     int64
}

func (r Resources) validate(field string) error {
	switch {
	case r.MilliCPU < 0:
		return newError(ErrInvalid, "%s.MilliCPU: negative (%d)", field, r.MilliCPU)
	case r.Memory < 0:
		return newError(ErrInvalid, "%s.Memory: negative (%d)", field, r.Memory)
	case r.Disk < 0:
		return newError(ErrInvalid, "%s.Disk: negative (%d)", field, r.Disk)
	}
	return nil
}

// TaintEffect says what a taint does to requests that do not tolerate it.
type TaintEffect string

const (
	// NoSchedule keeps every request that does not tolerate the taint off
	// the node (a filter).
	NoSchedule TaintEffect = "NoSchedule"
	// PreferNoSchedule only lowers the node's score for such requests.
	PreferNoSchedule TaintEffect = "PreferNoSchedule"
)

// Taint marks a node as reserved or degraded, as in Kubernetes.
type Taint struct {
	Key    string
	Value  string
	Effect TaintEffect
}

// Toleration lets a request onto nodes with a matching taint. With Exists
// set the value is ignored; an empty Key with Exists tolerates every taint.
// An empty Effect matches both effects.
type Toleration struct {
	Key    string
	Value  string
	Exists bool
	Effect TaintEffect
}

func (t Toleration) tolerates(tn Taint) bool {
	if t.Effect != "" && t.Effect != tn.Effect {
		return false
	}
	if t.Key == "" {
		return t.Exists
	}
	if t.Key != tn.Key {
		return false
	}
	return t.Exists || t.Value == tn.Value
}

// SpreadRule spreads the instances of the request's app over the domains of
// Key, with the semantics of Kubernetes' PodTopologySpread:
//
//   - the skew of a domain is its instance count minus the smallest count
//     over the eligible domains; eligible domains are those holding at least
//     one node that passes the request's zone, level, network-zone and label
//     constraints and has the key (taints and cordon are ignored, like
//     kube's default nodeTaintsPolicy);
//   - a hard rule (Soft false) rejects a node when placing there would make
//     its domain's skew exceed MaxSkew, and rejects nodes lacking the key;
//   - when fewer than MinDomains domains are eligible the smallest count is
//     taken as zero, so at most MaxSkew instances go into each domain until
//     enough domains exist;
//   - a soft rule (Soft true) only scores: emptier domains score higher,
//     nodes lacking the key score zero.
type SpreadRule struct {
	Key        TopologyKey
	MaxSkew    int
	MinDomains int
	Soft       bool
}

// AntiAffinity allows at most Max instances of the request's app in one
// domain of Key (Max 1 on KeyNode is kube's required hostname
// anti-affinity). Like kube, it is symmetric: a placed instance keeps its
// rule, and a later request of the same app must respect it even if it
// states no rule itself. A node lacking the key is never blocked.
type AntiAffinity struct {
	Key TopologyKey
	Max int
}

// MaxCount is the most replicas one Request may ask for. Place holds the
// inventory's lock for the whole request, one replica after the other,
// and a replica without resources fits anywhere, so the count is what
// bounds the time every other caller waits: at 10,000 nodes a request of
// MaxCount replicas with a rack spread rule costs about 0.2 s of CPU
// (BenchmarkPlaceMaxCount). Larger deployments place in several requests.
const MaxCount = 10000

// MaxListLen is the most entries a request's Zones, NodeSelector and
// Tolerations may hold each: the filters walk them for every node while
// Place holds the inventory's lock.
const MaxListLen = 64

// Request asks for Count replicas of an app. The zero values of the
// optional fields place no constraint.
type Request struct {
	// App identifies the application; spread and anti-affinity count the
	// instances of this app.
	App string
	// Count is the number of replicas to place, 1..MaxCount.
	Count int
	// Resources is what each replica needs.
	Resources Resources
	// Image, if set, makes nodes that already hold it score higher, in
	// proportion to its size.
	Image string
	// Zones, if set, restricts placement to these compute zones (at most
	// MaxListLen).
	Zones []string
	// Level, if set, restricts placement to nodes of this service level
	// (Node.Level), e.g. the dedicated nodes of business-critical apps.
	Level string
	// NetZone, if set, restricts placement to this network zone.
	NetZone string
	// VLAN, if not zero, needs one free IP address on this VLAN per
	// replica (1..4094).
	VLAN int
	// NodeSelector restricts placement to nodes carrying all these labels
	// (at most MaxListLen).
	NodeSelector map[string]string
	// Tolerations let the request onto tainted nodes (at most MaxListLen).
	Tolerations []Toleration
	// Spread lists hard and soft spread rules, at most one per key.
	Spread []SpreadRule
	// AntiAffinity lists per-domain instance limits, at most one per key.
	AntiAffinity []AntiAffinity
	// AllOrNothing releases the replicas placed so far when one cannot be
	// placed, so that either all Count replicas are placed or none.
	AllOrNothing bool
}

// Validate reports the first problem with the request, wrapping ErrInvalid
// and naming the field.
func (r *Request) Validate() error {
	if r.App == "" {
		return newError(ErrInvalid, "request.App: empty")
	}
	if r.Count < 1 || r.Count > MaxCount {
		return newError(ErrInvalid, "request.Count: %d out of range 1..%d", r.Count, MaxCount)
	}
	if err := r.Resources.validate("request.Resources"); err != nil {
		return err
	}
	if r.VLAN < 0 || r.VLAN > 4094 {
		return newError(ErrInvalid, "request.VLAN: %d out of range 1..4094", r.VLAN)
	}
	switch {
	case len(r.Zones) > MaxListLen:
		return newError(ErrInvalid, "request.Zones: %d zones, at most %d", len(r.Zones), MaxListLen)
	case len(r.NodeSelector) > MaxListLen:
		return newError(ErrInvalid, "request.NodeSelector: %d labels, at most %d", len(r.NodeSelector), MaxListLen)
	case len(r.Tolerations) > MaxListLen:
		return newError(ErrInvalid, "request.Tolerations: %d tolerations, at most %d", len(r.Tolerations), MaxListLen)
	}
	for i, z := range r.Zones {
		if z == "" {
			return newError(ErrInvalid, "request.Zones[%d]: empty", i)
		}
		for _, prev := range r.Zones[:i] {
			if prev == z {
				return newError(ErrInvalid, "request.Zones[%d]: %q listed twice", i, z)
			}
		}
	}
	for k := range r.NodeSelector {
		if k == "" {
			return newError(ErrInvalid, "request.NodeSelector: empty label key")
		}
	}
	for i, t := range r.Tolerations {
		if t.Key == "" && !t.Exists {
			return newError(ErrInvalid, "request.Tolerations[%d].Key: empty without Exists", i)
		}
		if t.Effect != "" && t.Effect != NoSchedule && t.Effect != PreferNoSchedule {
			return newError(ErrInvalid, "request.Tolerations[%d].Effect: unknown effect %q", i, t.Effect)
		}
	}
	var spreadSeen, antiSeen [numLevels]bool
	for i, s := range r.Spread {
		field := "request.Spread[" + strconv.Itoa(i) + "]"
		lv, ok := levelOf(s.Key)
		if !ok {
			return newError(ErrInvalid, "%s.Key: unknown topology key %q", field, s.Key)
		}
		if s.MaxSkew < 1 {
			return newError(ErrInvalid, "%s.MaxSkew: %d, must be at least 1", field, s.MaxSkew)
		}
		if s.MinDomains < 0 {
			return newError(ErrInvalid, "%s.MinDomains: negative (%d)", field, s.MinDomains)
		}
		if s.Soft && s.MinDomains > 0 {
			return newError(ErrInvalid, "%s: contradictory rules: MinDomains applies only to a hard rule", field)
		}
		if spreadSeen[lv] {
			return newError(ErrInvalid, "%s.Key: contradictory rules: a second spread rule for %q", field, s.Key)
		}
		spreadSeen[lv] = true
	}
	for i, a := range r.AntiAffinity {
		field := "request.AntiAffinity[" + strconv.Itoa(i) + "]"
		if err := a.validate(field); err != nil {
			return err
		}
		lv, _ := levelOf(a.Key)
		if antiSeen[lv] {
			return newError(ErrInvalid, "%s.Key: contradictory rules: a second anti-affinity rule for %q", field, a.Key)
		}
		antiSeen[lv] = true
	}
	return nil
}

func (a AntiAffinity) validate(field string) error {
	if _, ok := levelOf(a.Key); !ok {
		return newError(ErrInvalid, "%s.Key: unknown topology key %q", field, a.Key)
	}
	if a.Max < 1 {
		return newError(ErrInvalid, "%s.Max: %d, must be at least 1", field, a.Max)
	}
	return nil
}
