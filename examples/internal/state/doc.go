// Package state is the platform's contract in etcd: the keys, the values and
// who writes what. The controller and the agents speak only through it, the
// way the kubelet follows the API server, so a controller restart, a leader
// change or an agent restart loses nothing.
//
// Keys (all under Prefix, values JSON):
//
//	nodes/NODE                 Node        agent, under its lease (heartbeat)
//	desired/NODE/INSTANCE      Instance    controller only; the agent never writes it
//	status/NODE/INSTANCE       Status      agent of NODE only
//	events/TIME-SEQ            Event       anyone, under a retention lease
//	cluster/token              the cluster's bearer token (every API)
//	apps/APP                   App         the leading controller
//	networks/VLAN              NetworkPool the leading controller (a VLAN's cluster-wide pool)
//	ipam/VLAN/IP               instance id the leading controller, created with the instance
//	cordon/NODE                "cordon" or "drain", the leading controller
//	quotas/TEAM                Quota       the leading controller
//	usage/APP                  Usage       the leading controller (showback)
//	controller/leader/...      the controllers' election (etcd concurrency)
//	inspect/...                fleet inspection (package fleetinspect)
//	alertd/...                 alertd's snapshot (examples/alertd)
//
// Rules:
//
//   - An agent registers nodes/NODE under a lease it keeps alive; the key
//     vanishing is the controller's sign that the node is gone.
//   - An agent watches desired/NODE/, makes each Instance real, and writes
//     status/NODE/ID. Every Status and every Event it writes carries the
//     RequestID of the desired change that caused it, and the Generation it
//     acted on, so an operator can follow one API call through etcd.
//   - A malformed value is reported (an Event, and a Failed status where the
//     key names an instance) and skipped; it never stops an agent.
//   - etcd unreachable: running containers are left alone; nothing is
//     removed on stale state.
//   - Only the leading controller writes the controllers' keys, each write
//     in a transaction that holds only while its leader key exists; an
//     address is taken by creating its ipam key in the transaction that
//     writes the instance, so no two instances ever hold one.
//
// Decode is the one way to read a value: bounded in size, strict about
// types, and followed by Validate, whose errors name the field.
package state
