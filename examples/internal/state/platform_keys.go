package state

import (
	"net/netip"
	"strconv"
	"strings"
)

// Keys the controllers own (all under Prefix).
const (
	appsDir     = Prefix + "apps/"
	networksDir = Prefix + "networks/"
	ipamDir     = Prefix + "ipam/"
	cordonDir   = Prefix + "cordon/"
	quotasDir   = Prefix + "quotas/"
	usageDir    = Prefix + "usage/"
	// ElectionPrefix is where controllers campaign; the one whose key is
	// oldest leads.
	ElectionPrefix = Prefix + "controller/leader"
)

// AppKey is where the controller keeps an App.
func AppKey(name string) string { return appsDir + name }

// AppsPrefix is the prefix of every AppKey.
func AppsPrefix() string { return appsDir }

// NetworkKey is where a VLAN's cluster-wide address pool is defined.
func NetworkKey(vlan int) string { return networksDir + strconv.Itoa(vlan) }

// NetworksPrefix is the prefix of every NetworkKey.
func NetworksPrefix() string { return networksDir }

// IPKey is the lease of one address of a VLAN: its value is the instance
// id holding it. A VLAN spans nodes, so the pool is cluster-wide and an
// address is taken by creating this key in the same transaction that
// writes the instance: no two instances ever hold one address.
func IPKey(vlan int, ip netip.Addr) string {
	return ipamDir + strconv.Itoa(vlan) + "/" + ip.String()
}

// IPPrefix is the prefix of every IPKey.
func IPPrefix() string { return ipamDir }

// SplitIPKey returns the VLAN and address of an IPKey.
func SplitIPKey(key string) (int, netip.Addr, bool) {
	rest, ok := strings.CutPrefix(key, ipamDir)
	if !ok {
		return 0, netip.Addr{}, false
	}
	v, a, ok := strings.Cut(rest, "/")
	vlan, err := strconv.Atoi(v)
	if !ok || err != nil || vlan < 1 || vlan > 4094 {
		return 0, netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(a)
	return vlan, ip, err == nil
}

// CordonKey marks a node cordoned (no new placements) or draining; the
// controller writes it, since nodes/NODE is the agent's.
func CordonKey(node string) string { return cordonDir + node }

// CordonPrefix is the prefix of every CordonKey.
func CordonPrefix() string { return cordonDir }

// QuotaKey holds a team's Quota.
func QuotaKey(team string) string { return quotasDir + team }

// QuotasPrefix is the prefix of every QuotaKey.
func QuotasPrefix() string { return quotasDir }

// UsageKey holds an app's Usage, kept by the leading controller.
func UsageKey(app string) string { return usageDir + app }

// UsagePrefix is the prefix of every UsageKey.
func UsagePrefix() string { return usageDir }

// SplitName returns what follows prefix in key when it is one valid name.
func SplitName(key, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	return rest, ok && ValidName(rest)
}
