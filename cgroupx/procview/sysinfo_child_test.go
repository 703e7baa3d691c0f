package procview_test

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysinfoChild installs a seccomp filter that sends sysinfo(2) to a
// listener (SECCOMP_RET_USER_NOTIF) on this thread, prints the listener's
// descriptor, closes it at "close" on stdin, waits for another line (the parent has taken the
// listener and moved this process into a container), calls sysinfo and
// prints what it got.
func sysinfoChild() int {
	runtime.LockOSThread() // the filter is this thread's
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Println("no_new_privs:", err)
		return 1
	}
	const allow, notify = unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_USER_NOTIF
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // arch
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: unix.AUDIT_ARCH_X86_64},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_SYSINFO},
		{Code: unix.BPF_RET | unix.BPF_K, K: notify},
		{Code: unix.BPF_RET | unix.BPF_K, K: allow},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	fd, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		fmt.Println("seccomp:", errno)
		return 1
	}
	fmt.Println("listener", fd)
	in := bufio.NewReader(os.Stdin)
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			fmt.Println("stdin:", err)
			return 1
		}
		if line != "close\n" {
			break
		}
		// The parent has its own copy: with this one closed, the
		// listener lives only where the parent put it (runc's init
		// closes its copy too once it has handed it over).
		if err := unix.Close(int(fd)); err != nil {
			fmt.Println("close:", err)
			return 1
		}
		fmt.Println("closed")
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		fmt.Println("sysinfo:", err)
		return 1
	}
	fmt.Println("sysinfo", si.Totalram, si.Freeram, si.Procs, si.Uptime, si.Unit, si.Loads[0])
	return 0
}
