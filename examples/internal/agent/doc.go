// Package agent is the node agent: it follows the node's desired instances in
// etcd (package state's contract), makes them real with imagefs (image and
// rootfs), netvlan (a fat instance's VLAN port) and libcontainer (package
// container), and writes back their status and events, each carrying the
// request id of the desired change that caused it.
//
//	a, err := agent.New(agent.Config{Node: node, Etcd: cli, Runtime: rt, Store: store})
//	if err != nil { ... }
//	err = a.Run(ctx) // until ctx is done
//
// Restart safety, as the kubelet's: the agent never stops a container
// because it itself stops or dies. A new agent adopts what runs (the
// runtime's state, the store's prepared rootfs, the switch's ports) and
// reconciles: desired but missing → created; running but not desired →
// removed; exited → restarted with backoff (CrashLoop when it keeps
// exiting); resources changed → resized in place. Removal happens only on a
// fresh view of etcd: while etcd is unreachable running containers are left
// alone.
//
// A desired value that is malformed or cannot be met (an unknown image, a
// VLAN out of range, memory below the runtime's floor) gets a Failed status
// naming the field and leaves nothing behind; the agent goes on.
package agent
