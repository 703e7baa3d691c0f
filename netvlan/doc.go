// Package netvlan gives a container its own IP on a VLAN, the way JD.com
// and Mogujie ran Docker with --net=none: a veth pair with one end inside
// the container's network namespace and the other an access port of an
// Open vSwitch bridge, tagged with the VLAN. It talks OVSDB directly through
// libovsdb (no ovs-vsctl) and configures namespaces through netlink.
//
//	cfg := netvlan.DefaultConfig() // or a zero Config: the same
//	cfg.Bridge = "br0"
//	pool, _ := netvlan.ParsePool(10, "10.10.0.0/16", "10.10.0.1", "10.10.0.2-10.10.0.99")
//	cfg.Pools = []netvlan.Pool{pool}
//	sw, err := netvlan.Open(ctx, cfg) // starts the reconnecting goroutine
//	if err != nil { ... }
//	defer sw.Close() // stops it; idempotent
//
//	port, err := sw.Attach(ctx, netvlan.Attachment{
//		ContainerID: id,
//		Netns:       "/proc/" + strconv.Itoa(pid) + "/ns/net",
//		VLAN:        10, // the address comes from the VLAN's pool
//	})
//	// port.Addr, port.Gateway, port.Hostname, port.Ofport ...
//
//	err = sw.Detach(ctx, id) // idempotent
//
//	// After a restart of the agent, ovsdb-server or ovs-vswitchd:
//	report, err := sw.Reconcile(ctx, desired)
//
// What netvlan guarantees:
//
//   - Attach is all-or-nothing. The Interface, the Port and the bridge's
//     port list change in one OVSDB transaction; if that or any other step
//     fails, the veth, the rows and the address lease are removed again.
//     Attach returns once ovs-vswitchd has given the port an ofport.
//   - Concurrent Attach calls share transactions (group commit), because
//     ovs-vswitchd reconfigures the whole bridge once per transaction; large
//     deletes are chunked and paced on cur_cfg so ovs-vswitchd never stalls.
//   - IPv6 is off on the host end of every veth (a switch port needs no
//     address) and the container end gets no IPv6 link-local address
//     (Config.KeepIPv6 keeps it): otherwise each new port sends duplicate
//     address detection, router solicitations and MLD reports that the
//     bridge floods to every port of the VLAN, and with hundreds of ports
//     ovs-vswitchd spends seconds copying them.
//   - Ownership is decided by external_ids only (shoal-owner, container_id,
//     container_iface), never by a name prefix: ports of other tools on the
//     same bridge are never touched. The host end of each veth also
//     carries it in the kernel, as its alias
//     ("netvlan:OWNER:CONTAINER:IFACE", escaped; see alias.go), set right
//     after the pair is created: Reconcile deletes a veth whose alias names
//     its owner but which has no Port row (the agent died before the rows
//     were committed), never one of another owner or without an alias.
//   - Address leases live in the ports' external_ids, so OVSDB is the
//     record, and a restarted agent claims them back on Open.
//   - Namespace work runs on fresh OS threads locked for the purpose; a
//     thread that cannot return to its namespace is retired, never reused.
//   - Transmit checksum offload is turned off inside the container: the
//     userspace (netdev) datapath does not fill checksums in, and TCP would
//     fail.
//   - Rate limits (Attachment.Rate) are enforced by what works on the host,
//     and Port.RateEgress and Port.RateIngress say what is in force: OVS
//     ingress policing only when the kernel has the tc police action
//     (without it ingress_policing_rate is silently a no-op), else a tbf
//     qdisc inside the container; an OVS linux-htb QoS on the host port,
//     else a tbf qdisc on the host end.
//   - Run(ctx, handle) reports ofport, link state and error changes of the
//     ports, reconnections and cur_cfg/next_cfg; Health returns the same as
//     values for metrics.
//   - Address pools are /8 to /30, and Allocate costs the same in any of
//     them: free addresses are kept as ranges, so the cost follows how
//     fragmented a pool is, not its size (BENCHMARKS.md).
//   - Input is checked at the edge: VLANs are 1..4094 everywhere (Hostname
//     included: a trunk port without an access VLAN has no hostname), and
//     container ids, interface names and paths with control characters,
//     invalid UTF-8 or over 1,024 bytes are refused, quoted in the error.
//
// # Configuration
//
// A zero field of Config takes its documented default, so a zero Config is
// DefaultConfig; Open refuses what no default can mend (a negative
// duration or count, an MTU outside 68..65535, an Owner or IfName with
// control characters) with an ErrInvalid naming the field.
//
// # Goroutines
//
// The caller owns every goroutine but one: Open starts a goroutine that
// reconnects to ovsdb-server whenever the connection drops (pausing
// ReconnectInterval, doubling up to ReconnectMax), so that calls work
// again after an ovsdb-server restart without the caller running anything.
// Close stops it and waits for it; Close is idempotent and safe to call
// concurrently, and every call after it returns ErrClosed. Run delivers
// events on the caller's goroutine; Reconcile's fan-out (errgroup, at most
// MaxInFlight) ends before it returns.
//
// # Errors
//
// Every error reads "netvlan: what was wrong with its value: cause" (the
// prefix once; see internal/errs) and wraps ErrInvalid, ErrNotFound,
// ErrConflict, ErrExhausted, ErrUnavailable or ErrClosed; match them with
// errors.Is. Run returns ctx's own error when ctx ends.
package netvlan
