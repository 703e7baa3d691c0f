package storm

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/shoalkit/shoal/alertcorr"
)

// Config describes a storm. Hosts are laid out in racks of HostsPerRack,
// each rack with its own switch, RacksPerRoom racks to a room,
// RoomsPerDatacenter rooms to a datacenter.
type Config struct {
	Seed               uint64
	Hosts              int // default 1,000
	HostsPerRack       int // default 40
	RacksPerRoom       int // default 25
	RoomsPerDatacenter int // default 10
	ContainersPerHost  int // default 100
	Apps               int // default Hosts/2
	// Faults: apps overloading their containers and hosts (which starves
	// the other containers there), hosts going down with their
	// containers, switches cutting off all their hosts.
	AppFaults, HostFaults, SwitchFaults int
	// Noise is the number of unrelated single alerts.
	Noise int
	// Missing is the share of alerts that never arrive.
	Missing float64
	// Jitter spreads arrivals over this long.
	Jitter time.Duration
}

func (c Config) withDefaults() (Config, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Hosts, 1000)
	def(&c.HostsPerRack, 40)
	def(&c.RacksPerRoom, 25)
	def(&c.RoomsPerDatacenter, 10)
	def(&c.ContainersPerHost, 100)
	def(&c.Apps, max(1, c.Hosts/2))
	counts := []struct {
		name string
		v    int
	}{{"Hosts", c.Hosts}, {"HostsPerRack", c.HostsPerRack}, {"RacksPerRoom", c.RacksPerRoom}, {"RoomsPerDatacenter", c.RoomsPerDatacenter}, {"ContainersPerHost", c.ContainersPerHost}, {"Apps", c.Apps}, {"AppFaults", c.AppFaults}, {"HostFaults", c.HostFaults}, {"SwitchFaults", c.SwitchFaults}, {"Noise", c.Noise}}
	for _, f := range counts {
		if f.v < 0 {
			return c, newError(ErrInvalid, "Config.%s %d is negative", f.name, f.v)
		}
	}
	if c.Missing < 0 || c.Missing >= 1 {
		return c, newError(ErrInvalid, "Config.Missing %v is outside 0..1", c.Missing)
	}
	if c.AppFaults+c.HostFaults+c.SwitchFaults*c.HostsPerRack > c.Hosts/2 {
		return c, newError(ErrInvalid, "%d app, %d host and %d switch faults do not fit disjointly in %d hosts", c.AppFaults, c.HostFaults, c.SwitchFaults, c.Hosts)
	}
	return c, nil
}

// Fault is one cause in the storm and the entity a person should be told of.
type Fault struct {
	ID   string
	Root alertcorr.Entity
	// Alerts is how many of its alerts arrive.
	Alerts int
}

// Arrival is an alert and when, after the storm's start, it arrives.
type Arrival struct {
	Alert alertcorr.Alert
	After time.Duration
}

// Storm is a topology, the alerts of its faults and noise, and the truth.
type Storm struct {
	Topology []alertcorr.Entity
	Alerts   []Arrival
	Faults   []Fault
	// Truth maps each alert to the ID of the fault (or noise) that raised it.
	Truth map[alertcorr.Fingerprint]string
}

var _ alertcorr.TopologySource = (*Storm)(nil)

// Entities yields the topology, parents first.
func (s *Storm) Entities(ctx context.Context, yield func(alertcorr.Entity) error) error {
	for i, e := range s.Topology {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := yield(e); err != nil {
			return err
		}
	}
	return nil
}

// Generate builds a storm; the same Config gives the same storm.
func Generate(cfg Config) (*Storm, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	s := &Storm{Truth: map[alertcorr.Fingerprint]string{}}
	// Topology.
	racks := (cfg.Hosts + cfg.HostsPerRack - 1) / cfg.HostsPerRack
	rooms := (racks + cfg.RacksPerRoom - 1) / cfg.RacksPerRoom
	dcs := (rooms + cfg.RoomsPerDatacenter - 1) / cfg.RoomsPerDatacenter
	s.Topology = make([]alertcorr.Entity, 0, dcs+rooms+2*racks+cfg.Hosts+cfg.Apps+cfg.Hosts*cfg.ContainersPerHost)
	for d := range dcs {
		s.Topology = append(s.Topology, alertcorr.Entity{Kind: alertcorr.KindDatacenter, ID: fmt.Sprintf("dc%d", d)})
	}
	for m := range rooms {
		s.Topology = append(s.Topology, alertcorr.Entity{Kind: alertcorr.KindRoom, ID: fmt.Sprintf("room%d", m), Parent: fmt.Sprintf("dc%d", m/cfg.RoomsPerDatacenter)})
	}
	for k := range racks {
		room := fmt.Sprintf("room%d", k/cfg.RacksPerRoom)
		s.Topology = append(s.Topology,
			alertcorr.Entity{Kind: alertcorr.KindRack, ID: rackID(k), Parent: room},
			alertcorr.Entity{Kind: alertcorr.KindSwitch, ID: switchID(k), Parent: rackID(k)})
	}
	for h := range cfg.Hosts {
		k := h / cfg.HostsPerRack
		s.Topology = append(s.Topology, alertcorr.Entity{Kind: alertcorr.KindHost, ID: hostID(h), Parent: rackID(k), Switch: switchID(k)})
	}
	for a := range cfg.Apps {
		s.Topology = append(s.Topology, alertcorr.Entity{Kind: alertcorr.KindApp, ID: appID(a)})
	}
	hostConts := make([][]int32, cfg.Hosts) // container index → app
	appConts := make([][]int32, cfg.Apps)   // app → container indices (host*CPH+slot)
	for h := range cfg.Hosts {
		hostConts[h] = make([]int32, cfg.ContainersPerHost)
		for c := range cfg.ContainersPerHost {
			a := r.IntN(cfg.Apps)
			hostConts[h][c] = int32(a)
			appConts[a] = append(appConts[a], int32(h*cfg.ContainersPerHost+c))
			s.Topology = append(s.Topology, alertcorr.Entity{Kind: alertcorr.KindContainer, ID: containerID(h, c), Parent: hostID(h), App: appID(a)})
		}
	}
	// Faults on disjoint hosts, so the truth is unambiguous.
	used := make([]bool, cfg.Hosts)
	emit := func(fault string, l alertcorr.Labels) {
		if r.Float64() < cfg.Missing {
			return
		}
		a := alertcorr.Alert{Labels: l}
		s.Truth[a.Fingerprint()] = fault
		var after time.Duration
		if cfg.Jitter > 0 {
			after = time.Duration(r.Int64N(int64(cfg.Jitter)))
		}
		s.Alerts = append(s.Alerts, Arrival{Alert: a, After: after})
	}
	count := func(fault string) int {
		n := 0
		for _, f := range s.Truth {
			if f == fault {
				n++
			}
		}
		return n
	}
	cph := cfg.ContainersPerHost
	for i := range cfg.SwitchFaults {
		k := pickRack(r, racks, cfg.HostsPerRack, cfg.Hosts, used)
		if k < 0 {
			break
		}
		id := fmt.Sprintf("switch-fault-%d", i)
		for h := k * cfg.HostsPerRack; h < min(cfg.Hosts, (k+1)*cfg.HostsPerRack); h++ {
			used[h] = true
			emit(id, alertcorr.Labels{"alertname": "HostDown", "host": hostID(h)})
			for c := range cph {
				emit(id, alertcorr.Labels{"alertname": "ContainerDown", "container": containerID(h, c)})
			}
		}
		s.Faults = append(s.Faults, Fault{ID: id, Root: alertcorr.Entity{Kind: alertcorr.KindSwitch, ID: switchID(k)}, Alerts: count(id)})
	}
	for i := range cfg.AppFaults {
		a := pickApp(r, cfg.Apps, appConts, cph, used)
		if a < 0 {
			break
		}
		id := fmt.Sprintf("app-fault-%d", i)
		hosts := map[int]bool{}
		for _, ci := range appConts[a] {
			h, c := int(ci)/cph, int(ci)%cph
			emit(id, alertcorr.Labels{"alertname": "ContainerCPUThrottled", "container": containerID(h, c), "app": appID(a)})
			hosts[h] = true
		}
		for _, h := range sortedInts(hosts) {
			used[h] = true
			emit(id, alertcorr.Labels{"alertname": "HostLoadHigh", "host": hostID(h)})
			for c := range cph {
				if int(hostConts[h][c]) != a {
					emit(id, alertcorr.Labels{"alertname": "ContainerLatencyHigh", "container": containerID(h, c)})
				}
			}
		}
		s.Faults = append(s.Faults, Fault{ID: id, Root: alertcorr.Entity{Kind: alertcorr.KindApp, ID: appID(a)}, Alerts: count(id)})
	}
	for i := range cfg.HostFaults {
		h := pickHost(r, cfg.Hosts, used)
		if h < 0 {
			break
		}
		used[h] = true
		id := fmt.Sprintf("host-fault-%d", i)
		emit(id, alertcorr.Labels{"alertname": "HostDown", "host": hostID(h)})
		for c := range cph {
			emit(id, alertcorr.Labels{"alertname": "ContainerDown", "container": containerID(h, c)})
		}
		s.Faults = append(s.Faults, Fault{ID: id, Root: alertcorr.Entity{Kind: alertcorr.KindHost, ID: hostID(h)}, Alerts: count(id)})
	}
	for i := range cfg.Noise {
		h := pickHost(r, cfg.Hosts, used)
		if h < 0 {
			break
		}
		c := r.IntN(cph)
		id := fmt.Sprintf("noise-%d", i)
		emit(id, alertcorr.Labels{"alertname": "ContainerOOMKilled", "container": containerID(h, c), "n": fmt.Sprint(i)})
		if n := count(id); n > 0 {
			s.Faults = append(s.Faults, Fault{ID: id, Root: alertcorr.Entity{Kind: alertcorr.KindContainer, ID: containerID(h, c)}, Alerts: n})
		}
	}
	r.Shuffle(len(s.Alerts), func(i, j int) { s.Alerts[i], s.Alerts[j] = s.Alerts[j], s.Alerts[i] })
	slices.SortStableFunc(s.Alerts, func(a, b Arrival) int { return int(a.After - b.After) })
	return s, nil
}

func pickRack(r *rand.Rand, racks, per, hosts int, used []bool) int {
	for range 1000 {
		k := r.IntN(racks)
		ok := true
		for h := k * per; h < min(hosts, (k+1)*per); h++ {
			if used[h] {
				ok = false
				break
			}
		}
		if ok {
			return k
		}
	}
	return -1
}

func pickHost(r *rand.Rand, hosts int, used []bool) int {
	for range 1000 {
		if h := r.IntN(hosts); !used[h] {
			return h
		}
	}
	return -1
}

func pickApp(r *rand.Rand, apps int, appConts [][]int32, cph int, used []bool) int {
	for range 1000 {
		a := r.IntN(apps)
		if len(appConts[a]) < 3 {
			continue
		}
		ok := true
		for _, ci := range appConts[a] {
			if used[int(ci)/cph] {
				ok = false
				break
			}
		}
		if ok {
			return a
		}
	}
	return -1
}

func sortedInts(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func rackID(k int) string         { return fmt.Sprintf("rack%d", k) }
func switchID(k int) string       { return fmt.Sprintf("sw%d", k) }
func hostID(h int) string         { return fmt.Sprintf("h%d", h) }
func appID(a int) string          { return fmt.Sprintf("app%d", a) }
func containerID(h, c int) string { return fmt.Sprintf("h%d-c%d", h, c) }
