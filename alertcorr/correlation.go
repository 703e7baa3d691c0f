package alertcorr

import (
	"time"
)

// Correlation tunes how alerts become incidents. A zero field takes the
// value DefaultCorrelation gives it.
type Correlation struct {
	// Window is how long an alert waits after it first arrives before it
	// is correlated, so that the rest of its storm is there too. Alerts
	// explained by an open incident join it at the next evaluation.
	// Default 30 s.
	Window time.Duration
	// KindLabels name, per kind, the labels whose value is the ID of the
	// entity an alert is about. The most specific kind present wins
	// (container, host, switch, rack, room, datacenter, then app).
	// Default: the kind's name ("container", "host", ...), and "node" and
	// "instance" for hosts, "dc" for datacenters.
	KindLabels map[Kind][]string
	// Unreachable are the alertnames that say a host cannot be reached;
	// a switch or rack is a root when enough of its hosts raise one.
	// Default HostDown, HostUnreachable, NodeDown, InstanceDown.
	Unreachable []string
	// HostFraction is the share of a host's containers that must alert for
	// the host to be their root when it does not alert itself; at least
	// MinHostContainers. Defaults 0.5 and 2.
	HostFraction      float64
	MinHostContainers int
	// AppFraction is the share of an app's containers that must alert, on
	// at least MinAppHosts hosts, for the app to be the root of them, of
	// those hosts and of the other containers there. Defaults 0.5 and 3.
	AppFraction float64
	MinAppHosts int
	// SwitchFraction is the share of a switch's (or rack's) hosts that must
	// be unreachable, at least MinSwitchHosts, for it to be their root.
	// Defaults 0.5 and 2.
	SwitchFraction float64
	MinSwitchHosts int
	// IncidentAlertName is the alertname of the alerts incidents are sent
	// as. Default "Incident".
	IncidentAlertName string
	// MaxListedMembers bounds the member alerts an incident lists in its
	// annotations (all are counted). Default 50.
	MaxListedMembers int
}

// DefaultCorrelation returns the correlation defaults.
func DefaultCorrelation() Correlation {
	return Correlation{
		Window: 30 * time.Second,
		KindLabels: map[Kind][]string{
			KindContainer:  {"container"},
			KindHost:       {"host", "node", "instance"},
			KindSwitch:     {"switch"},
			KindRack:       {"rack"},
			KindRoom:       {"room"},
			KindDatacenter: {"datacenter", "dc"},
			KindApp:        {"app"},
		},
		Unreachable:       []string{"HostDown", "HostUnreachable", "NodeDown", "InstanceDown"},
		HostFraction:      0.5,
		MinHostContainers: 2,
		AppFraction:       0.5,
		MinAppHosts:       3,
		SwitchFraction:    0.5,
		MinSwitchHosts:    2,
		IncidentAlertName: "Incident",
		MaxListedMembers:  50,
	}
}

func (c Correlation) withDefaults() (Correlation, error) {
	d := DefaultCorrelation()
	if c.Window < 0 {
		return c, newError(ErrInvalid, "Correlation.Window %v is negative", c.Window)
	}
	if c.Window == 0 {
		c.Window = d.Window
	}
	if c.KindLabels == nil {
		c.KindLabels = d.KindLabels
	}
	for k, names := range c.KindLabels {
		if _, ok := parentKinds(k); !ok {
			return c, newError(ErrInvalid, "Correlation.KindLabels has kind %d, unknown", int(k))
		}
		for _, n := range names {
			if !validLabelName(n) {
				return c, newError(ErrInvalid, "Correlation.KindLabels[%s] label %q is not a label name", k, truncate(n))
			}
		}
	}
	if c.Unreachable == nil {
		c.Unreachable = d.Unreachable
	}
	fractions := []struct {
		name string
		v    *float64
		def  float64
	}{{"HostFraction", &c.HostFraction, d.HostFraction}, {"AppFraction", &c.AppFraction, d.AppFraction}, {"SwitchFraction", &c.SwitchFraction, d.SwitchFraction}}
	for _, f := range fractions {
		if *f.v < 0 || *f.v > 1 {
			return c, newError(ErrInvalid, "Correlation.%s %v is outside 0..1", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	counts := []struct {
		name string
		v    *int
		def  int
	}{{"MinHostContainers", &c.MinHostContainers, d.MinHostContainers}, {"MinAppHosts", &c.MinAppHosts, d.MinAppHosts}, {"MinSwitchHosts", &c.MinSwitchHosts, d.MinSwitchHosts}, {"MaxListedMembers", &c.MaxListedMembers, d.MaxListedMembers}}
	for _, f := range counts {
		if *f.v < 0 {
			return c, newError(ErrInvalid, "Correlation.%s %d is negative", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.IncidentAlertName == "" {
		c.IncidentAlertName = d.IncidentAlertName
	}
	return c, nil
}

// specificity is the order in which an alert's labels decide its entity.
func specificity() [7]Kind {
	return [7]Kind{KindContainer, KindHost, KindSwitch, KindRack, KindRoom, KindDatacenter, KindApp}
}

// Incident is a set of alerts with the entity that explains them.
type Incident struct {
	// ID is stable for the incident's life.
	ID string
	// Root is the entity that explains the members; it may never have
	// alerted itself.
	Root Entity
	// Rule names why the root was chosen: "switch-unreachable",
	// "app-spread", "host-containers", "host-alert", "own-alert",
	// "self" (one entity's own alerts) or "unknown-entity".
	Rule string
	// Evidence says in words why this root and not another.
	Evidence []string
	// Members are the fingerprints of the member alerts, sorted.
	Members []Fingerprint
	// MemberLabels are the labels of the first members (at most
	// Correlation.MaxListedMembers), in fingerprint order.
	MemberLabels []Labels
	// Labels are the labels its alert carries besides alertname, incident,
	// root and root_kind: those all its members had in common when it
	// opened (entity labels left out), and the highest "severity" among
	// them (critical, warning, info). They stay fixed for its life, so
	// routes and silences on team or severity work.
	Labels Labels
	// StartsAt is when the incident opened; EndsAt when it resolved, or zero.
	StartsAt, EndsAt time.Time
	// Reason says why it resolved: "members resolved", "root resolved",
	// or "merged into <id>".
	Reason string
}

// Resolved reports whether the incident is resolved.
func (in *Incident) Resolved() bool { return !in.EndsAt.IsZero() }
