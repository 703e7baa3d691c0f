// Package netvlantest runs an in-memory OVSDB server with the Open_vSwitch
// schema (libovsdb's server package), for unit tests of code that uses
// netvlan without root, ovsdb-server or ovs-vswitchd:
//
//	srv := netvlantest.StartServer(t, "br0")
//	cfg := netvlan.DefaultConfig()
//	cfg.Endpoint = srv.Endpoint
//
// There is no ovs-vswitchd behind it: ports never get an ofport, so Attach
// waits and fails; List, Detach, Reconcile's bookkeeping, leases and
// reconnection can be tested.
package netvlantest
