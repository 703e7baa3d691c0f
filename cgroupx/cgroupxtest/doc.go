// Package cgroupxtest writes fake cgroup v1, v2 and hybrid hosts into a
// directory, for tests of code that uses cgroupx: a mount table, cgroup
// directories with the files the kernel would show, and /proc entries for
// host memory, CPUs, uptime and processes.
//
//	tree := cgroupxtest.New(t, cgroupxtest.V2)
//	tree.SetMemory("/app", cgroupxtest.Memory{Limit: 256 << 20, Usage: 100 << 20})
//	host, _ := cgroupx.NewHost(ctx, cgroupx.WithRoot(tree.Root))
//	cg, _ := host.Open(ctx, "/app")
package cgroupxtest
