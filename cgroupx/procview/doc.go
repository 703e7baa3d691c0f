// Package procview serves a live /proc for fat containers over FUSE: one
// mount per node, and each read answered for the cgroup of the process
// that reads, so that unmodified free, top, uptime, nproc and cat
// /proc/cpuinfo inside a container show the container's own memory, CPUs,
// load and uptime. The files are bind-mounted read-only over the
// container's /proc/meminfo, cpuinfo, stat, uptime, loadavg, diskstats,
// swaps and /sys/devices/system/cpu/online, as lxcfs's are; the numbers
// come from the cgroupx package (its renderers, its limits walked over the
// ancestors, and the kernel's own calc_load for the load average). A
// process outside every container parent sees the host's files.
//
// # Restarts lose no read
//
// The FUSE connection is kept by a [Holder], a small long-lived process of
// its own; the server (the agent) dials the holder's unix socket and
// receives the /dev/fuse descriptor (SCM_RIGHTS) and the INIT request the
// kernel sent at mount time. While no server runs, reads wait in the
// kernel's queue; a new server replays INIT into its own protocol state
// without redoing the handshake (the kernel accepts the INIT answer only
// once), asks the kernel to resend what a dead server had read but not
// answered (FUSE_NOTIFY_RESEND, Linux 6.9), and answers. Node ids are
// fixed, so the new server knows every id the kernel learnt. A read never
// fails with ENOTCONN because the server restarted.
//
// The holder may die too: a server that got its connection from a holder
// listening on socket S hands it back on [HandBackSocket](S) for as long
// as it serves, and a holder that starts on a view that is still mounted
// takes the connection from there instead of mounting anew. Either
// process can die alone, and be started again, without a read failing.
// When both are gone at once (killed together, or the holder dies while
// no server runs) nobody holds the connection: the kernel ends it, the
// containers' bind mounts answer ENOTCONN and only restarting those
// containers (or bind-mounting the new view over their files again)
// mends them; the next holder finds nobody to hand the connection back,
// unmounts the dead view and mounts a new one.
//
// The holder keeps the containers' seccomp listeners as well (see
// sysinfo below): a server with [Config.HolderSocket] gives the holder a
// duplicate of each listener runc hands it ([KeepListener], on
// [ListenerSocket](S)), and a server that starts takes every listener the
// holder keeps ([KeptListeners]) and serves it. While no server runs, a
// container's sysinfo(2) waits in the kernel, as a read does, and the
// next server answers it; it never fails with ENOSYS because the server
// restarted. The holder drops a listener when it reports POLLHUP (the
// container's processes are gone) and keeps at most
// HolderConfig.MaxListeners. A server that sees the holder's socket made
// anew (the holder restarted and lost what it kept) gives it every
// listener it serves again, within a second; as with the FUSE connection,
// only the holder and the server gone at once lose a container's
// listener, and its sysinfo fails with ENOSYS until it restarts. One
// call can still be caught: a server killed between receiving a
// notification and answering it (tens of microseconds) leaves that call
// waiting, since the kernel gives a received notification to no other
// server, until a signal interrupts it; a server that stops on its
// context finishes the answer it has started.
//
// The holder (examples/procviewd hold):
//
//	h, err := procview.NewHolder(ctx, procview.HolderConfig{
//		MountPoint: "/var/lib/shoal/procview", Socket: "/run/shoal/procview.sock"})
//	if err != nil { ... }
//	defer h.Close() // unmounts
//	err = h.Run(ctx)
//
// The server (the agent):
//
//	srv, err := procview.New(ctx, procview.Config{Parents: []string{"/shoal"}})
//	if err != nil { ... }
//	conn, err := procview.Dial(ctx, "/run/shoal/procview.sock")
//	if err != nil { ... }
//	defer conn.Close()
//	err = srv.Serve(ctx, conn) // until ctx is done
//
// and for each container, when the view is mounted ([Mounted]), read-only
// bind mounts of the view's files over its own, after its /proc and /sys
// (see [BindMounts]; runc and libcontainer admit exactly these /proc
// files):
//
//	if ok, _ := procview.Mounted("/var/lib/shoal/procview"); ok {
//		for _, m := range procview.BindMounts("/var/lib/shoal/procview") {
//			// m.Source → m.Destination in the container, bind, read-only
//		}
//	}
//
// The holder and the server must run in the host's pid and cgroup
// namespaces: the kernel gives a reader's pid in the pid namespace of the
// process that mounted the view, and the server reads /proc/PID/cgroup.
//
// # Freshness and cost
//
// A read costs the kernel's FUSE round trips (OPEN, READ, and RELEASE in
// the background) and, in READ, the caller's container and its rendered
// file. Both are kept for [Config.MaxAge] (default 10 ms): which
// container a calling thread is in (checked against a pidfd of that
// thread, so a pid reused by another process is never mistaken for it),
// and each container's rendered files. 10 ms is one unit of /proc/stat
// and /proc/uptime (USER_HZ); memory.stat, behind most of meminfo, is
// itself refreshed by the kernel only every 2 s. A negative MaxAge
// renders every read, as lxcfs does.
//
// # sysinfo
//
// sysinfo(2) (BusyBox free and uptime, many runtimes) does not read /proc.
// [Server.ServeSeccomp] answers it for the caller's container through
// seccomp user notification: the container's seccomp filter returns
// SECCOMP_RET_USER_NOTIF for sysinfo, runc hands the listener to the agent
// over a unix socket (specs.LinuxSeccomp.ListenerPath), and the handler
// writes the container's uptime, load, memory and swap into the caller
// (process_vm_writev) and lets every other call through:
//
//	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: "/run/shoal/seccomp.sock", Net: "unix"})
//	go srv.AcceptSeccomp(ctx, ln) // every container's ListenerPath: /run/shoal/seccomp.sock
//
// with, in each container's spec, linux.seccomp = {defaultAction
// SCMP_ACT_ALLOW (or the usual profile), listenerPath
// "/run/shoal/seccomp.sock", syscalls [{names ["sysinfo"], action
// SCMP_ACT_NOTIFY}]}. [Server.ServeSeccomp] serves one listener descriptor
// got some other way. A container's answer is kept for Config.MaxAge, as
// its files are. A listener open in no process (its server exited and no
// holder keeps it) cannot be answered: the kernel fails that container's
// sysinfo at once with ENOSYS until the container is started again.
// Config.HolderSocket (the holder's socket) prevents that: the holder
// keeps every listener, and a restarted server takes them back:
//
//	srv, err := procview.New(ctx, procview.Config{HolderSocket: "/run/shoal/procview.sock"})
//	go srv.AcceptSeccomp(ctx, ln) // keeps new listeners, serves the kept ones
//
// # sendfile and splice
//
// Files are opened with FOPEN_DIRECT_IO: every read(2) reaches the
// server and is answered for its caller. Linux 6.5 to at least 6.18
// serve splice(2) and sendfile(2) from a direct-I/O FUSE file through the
// page cache (filemap_splice_read), up to the inode's size; but the page
// cache and the size belong to the inode, which every container shares,
// so a page filled for one container could be served to another. The
// view tells the two kinds of read apart (the kernel sends a direct read
// with the reader's lock owner, FUSE_READ_LOCKOWNER, and a page-cache
// read without) and refuses page-cache reads with EINVAL; a file's size
// is the length of its text for the caller that asks (stat, lseek to the
// end; never kept by the kernel), at least 1, so that sendfile finds
// something to ask for and gets the EINVAL instead of copying nothing.
// BusyBox cat and Go's io.Copy fall back to read(2) on EINVAL and copy
// the whole file; GNU cat, procps, glibc, Python and Java read(2) from
// the start. A program that splices and does not fall back sees the
// error, never another container's numbers. The kernel fix
// ("fuse: use copy_splice_read()..." on linux-fsdevel) makes such splices
// direct reads, which the view answers.
//
// Errors read "procview: mount point "rel" is not absolute": the package
// prefix once, what was wrong and with which value, then the cause. Each
// wraps one kind, matched with errors.Is: [ErrInvalid], [ErrNotFound],
// [ErrUnsupported], [ErrUnavailable] or [ErrClosed]. A reader sees ESRCH
// when its own process is gone and EIO when its container's files could
// not be read; EACCES for any write.
package procview
