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
// One goroutine, the reconcile loop, owns the instances. A pass acts on up
// to Config.Parallel instances at once (errgroup.SetLimit; 8 by default),
// each instance by one goroutine, and ends when all are done; exits,
// status writes and the switch's reconcile happen between passes. The HTTP
// handlers read only the desired map and the instance map under the lock,
// and the runtime's and store's own state.
//
// A desired value that is malformed or cannot be met (an unknown image, a
// VLAN out of range, memory below the runtime's floor, a host path outside
// Config.VolumeRoots, a full disk while fetching) gets a Failed status
// naming the field and leaves nothing behind; the agent goes on.
//
// Data volumes are an LVM logical volume per instance where the node has a
// volume group (Config.VolumeGroup), else a loop-mounted file; either
// outlives its instance until DELETE /v1/volumes/ID. A new volume is filled
// from the image's files at its mount path.
//
// Cold migration is snapshot, push, place elsewhere: POST
// /v1/instances/ID/snapshot freezes the container, turns its overlay upper
// directory into an OCI layer on top of its image (imagefs.Store.Commit:
// deleted files and opaque directories become .wh. entries), adds the data
// volume as one more layer when asked ({"volume": true}), pushes the image
// and answers its digest. The controller then places an instance of
// IMAGE@DIGEST on another node, whose new volume is filled from that layer,
// and deletes the old instance; the old volume stays on the old node until
// removed through the API. Without "volume" the data stays behind: JD's
// cold migration copied /export, which is what "volume": true does.
//
// Inside a container, free, top, uptime and cat /proc/cpuinfo show the
// container's memory, CPUs, load and uptime: the node's live /proc
// (package cgroupx/procview, Config.ProcView) is bind-mounted over the
// container's /proc files (and OMP_NUM_THREADS is set from the CPU quota,
// for nproc), and with Config.Sysinfo the agent also answers
// sysinfo(2), which BusyBox free and uptime and many runtimes call instead
// of reading /proc: the container's seccomp filter sends it to a listener
// (seccomp user notification) that the agent takes on
// Config.SysinfoSocket and serves with its procview server. The node's
// label shoal.sysinfo (SysinfoLabel) says "seccomp", "unavailable" (the
// build, libseccomp or the kernel cannot notify: sysinfo shows the
// host's numbers) or "off". With a procview holder behind the server
// (procview.Config.HolderSocket) the listeners outlive the agent: while
// no agent runs a container's sysinfo waits, and the next agent answers
// it. Without one, a container keeps its listener only while the agent
// that started it runs; after that agent exits, sysinfo in it fails with
// ENOSYS until it is restarted.
//
// The HTTP API (Handler) is listed on Handler; all but /healthz, /metrics
// and /blobs need the cluster token.
package agent
