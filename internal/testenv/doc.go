// Package testenv starts the real components that Shoal's integration tests
// talk to: Open vSwitch (ovsdb-server and ovs-vswitchd), network namespaces
// and veth pairs, a cgroup per test, the OCI registry, plain processes, and
// free loopback ports. Each lives in the test's temp dir, on loopback or a
// unix socket or inside a namespace the test made, and is stopped by pid and
// removed in t.Cleanup, also when the test fails.
//
// A test states what it needs first; Require skips the test when root or a
// component is missing, and fails it instead when SHOAL_INTEGRATION=require
// (as CI sets), so a green CI means the real components ran:
//
//	func TestAttach(t *testing.T) {
//		sw := testenv.StartOVS(t) // calls Require(t, OVS) itself
//		sw.AddBridge(t, "br0")
//		a, b := testenv.NewNetns(t), testenv.NewNetns(t)
//		sw.AccessPort(t, "br0", a, 10, "10.99.0.1/24")
//		sw.AccessPort(t, "br0", b, 10, "10.99.0.2/24")
//		a.Run(t, "ping", "-c", "1", "10.99.0.2")
//	}
//
// Every ovs-vswitchd runs inside a network namespace of its own (OVS.Host):
// the userspace datapath creates tap devices named after the datapath
// ("ovs-netdev") and the bridges, so two switches in one namespace collide,
// and taps left in the host namespace would outlive the test. Ports of the
// switch are therefore interfaces in OVS.Host.
//
// A Fabric is a network of hosts with shaped uplinks inside one namespace,
// for distribution tests and benchmarks where the links, not the CPUs the
// hosts share, must be the bottleneck: servers Listen as a host, clients
// dial through a host's Client, the registry can run as a host
// (StartRegistry with OnFabric), and the kernel counts what each host sent.
//
// The Debian packages behind the components are listed once, in
// debian-packages.txt, which `make test` installs from.
package testenv
