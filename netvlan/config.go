package netvlan

import (
	"log/slog"
	"time"
)

// Config configures a Switch. Start from DefaultConfig and change what
// differs; every zero field of a Config passed to Open takes its default
// (a zero Config is DefaultConfig), and Open refuses a negative duration or
// count, an MTU outside 68..65535 and an Owner with control characters,
// naming the field.
type Config struct {
	// Endpoint is ovsdb-server's address in OVSDB connection format:
	// "unix:/path/db.sock" or "tcp:127.0.0.1:6640".
	// Default "unix:/var/run/openvswitch/db.sock" (Debian's socket; not
	// libovsdb's default ovsdb.sock name).
	Endpoint string

	// Bridge is the bridge ports are added to when an Attachment names none.
	// Default "br-int".
	Bridge string

	// HostNetns is the path of the network namespace where the host ends of
	// the veth pairs live and ovs-vswitchd sees them (for example
	// /run/netns/NAME). Default "": the namespace of the thread calling Open.
	HostNetns string

	// IfName is the container-side interface name when an Attachment names
	// none. Default "eth0".
	IfName string

	// MTU is the MTU of both veth ends when an Attachment sets none.
	// Default 0: the kernel's default, 1500.
	MTU int

	// Owner is written to external_ids:shoal-owner of every row netvlan
	// creates; netvlan never touches a row without it, so several agents (or
	// other tools) can share a bridge. Default "netvlan".
	Owner string

	// Pools are the per-VLAN address pools for Attachments that carry no
	// address. Default none: every Attachment must bring its own address or
	// go without one.
	Pools []Pool

	// Hostname is the rule that names containers after their address.
	// Default the zero rule, DefaultHostnameRule ("c-{ip}").
	Hostname HostnameRule

	// KeepTxChecksum leaves transmit checksum offload on for the container
	// side. netvlan turns it off by default because the userspace (netdev)
	// datapath does not fill checksums in, so TCP fails without it; with the
	// kernel datapath keeping it saves a little CPU. Default false.
	KeepTxChecksum bool

	// KeepIPv6 leaves IPv6 address autoconfiguration on for the container
	// end. netvlan assigns IPv4 only and by default sets the container
	// end's IPv6 address generation mode to none before it comes up, so it
	// gets no link-local address and sends no duplicate address detection,
	// router solicitations or MLD reports: the bridge floods each of those
	// to every port of the VLAN, and with hundreds of ports a burst of
	// attaches keeps ovs-vswitchd busy for seconds. Addresses the container
	// adds itself still work. (IPv6 is always off on the host end, which
	// is a switch port and needs no address.) Default false.
	KeepIPv6 bool

	// ConnectTimeout bounds Open's first connection and each reconnection
	// attempt. Default 5s.
	ConnectTimeout time.Duration

	// ReconnectInterval is the pause between reconnection attempts after
	// ovsdb-server went away; it doubles up to ReconnectMax. Default 20ms.
	ReconnectInterval time.Duration

	// ReconnectMax caps the pause between reconnection attempts.
	// Default 100ms, so the first transaction after ovsdb-server is back runs
	// within a fraction of a second.
	ReconnectMax time.Duration

	// ReadyTimeout bounds the wait for ovs-vswitchd to give a new port its
	// ofport when the caller's context has no earlier deadline. Default 60s:
	// ovs-vswitchd re-reads every port's link on each reconfiguration
	// (about 0.2 s per add at 1,000 ports on a 2-core VM with the userspace
	// datapath), a burst of adds waits for all of them, and a restarted
	// ovs-vswitchd reopens every port first.
	ReadyTimeout time.Duration

	// MaxBatch caps how many concurrent Attach calls share one
	// transaction. Default 256.
	MaxBatch int

	// MaxInFlight is how many attachments Reconcile prepares (namespace,
	// veth, address) and commits at once; they share transactions through
	// group commit. An attachment whose rows are committed no longer counts
	// while it waits for ovs-vswitchd to give it an ofport. Default 32.
	MaxInFlight int

	// DeleteChunk is how many ports one deleting transaction removes;
	// netvlan then waits for ovs-vswitchd to catch up before the next chunk,
	// so it never stalls for long. Default 50.
	DeleteChunk int

	// PaceTimeout bounds the wait for ovs-vswitchd to catch up after a
	// chunk (cur_cfg reaching next_cfg). When it expires the next chunk goes
	// anyway. Default 5s.
	PaceTimeout time.Duration

	// Logger receives netvlan's and libovsdb's logs. libovsdb's row dumps
	// are logged below slog.LevelDebug. Default nil: discard.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Endpoint:          "unix:/var/run/openvswitch/db.sock",
		Bridge:            "br-int",
		IfName:            "eth0",
		Owner:             "netvlan",
		ConnectTimeout:    5 * time.Second,
		ReconnectInterval: 20 * time.Millisecond,
		ReconnectMax:      100 * time.Millisecond,
		ReadyTimeout:      60 * time.Second,
		MaxBatch:          256,
		MaxInFlight:       32,
		DeleteChunk:       50,
		PaceTimeout:       5 * time.Second,
	}
}

// validate reports the first field of c that no default can mend.
func (c *Config) validate() error {
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"ConnectTimeout", c.ConnectTimeout},
		{"ReconnectInterval", c.ReconnectInterval},
		{"ReconnectMax", c.ReconnectMax},
		{"ReadyTimeout", c.ReadyTimeout},
		{"PaceTimeout", c.PaceTimeout},
	} {
		if d.v < 0 {
			return newError(ErrInvalid, "Config.%s %s is negative", d.field, d.v)
		}
	}
	for _, n := range []struct {
		field string
		v     int
	}{{"MaxBatch", c.MaxBatch}, {"MaxInFlight", c.MaxInFlight}, {"DeleteChunk", c.DeleteChunk}} {
		if n.v < 0 {
			return newError(ErrInvalid, "Config.%s %d is negative", n.field, n.v)
		}
	}
	if c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535) {
		return newError(ErrInvalid, "Config.MTU %d out of range 68..65535", c.MTU)
	}
	if err := checkID("Config.Owner", c.Owner); err != nil {
		return err
	}
	return checkID("Config.IfName", c.IfName)
}

// withDefaults fills the zero fields of c from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Endpoint == "" {
		c.Endpoint = d.Endpoint
	}
	if c.Bridge == "" {
		c.Bridge = d.Bridge
	}
	if c.IfName == "" {
		c.IfName = d.IfName
	}
	if c.Owner == "" {
		c.Owner = d.Owner
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = d.ConnectTimeout
	}
	if c.ReconnectInterval == 0 {
		c.ReconnectInterval = d.ReconnectInterval
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = d.ReconnectMax
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = d.ReadyTimeout
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = d.MaxBatch
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	if c.DeleteChunk == 0 {
		c.DeleteChunk = d.DeleteChunk
	}
	if c.PaceTimeout == 0 {
		c.PaceTimeout = d.PaceTimeout
	}
	return c
}
