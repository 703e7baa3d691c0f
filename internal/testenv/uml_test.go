package testenv

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	GuestInit()
	os.Exit(m.Run())
}

// TestGuest boots one guest that runs the two guest tests below: the first
// checks the machine GuestInit made, the second ends the program with exit
// code 3, which must come back as linux.uml's exit code.
//
// A guest that outlives its timeout is killed with its process group, and
// nothing of it stays behind. Both guests run one static binary.
func TestGuest(t *testing.T) {
	Require(t, UML)
	bin := StaticTestBinary(t)
	t.Run("timeout", func(t *testing.T) {
		p, cfg := startGuest(t, GuestConfig{Run: "^TestGuestHang$", Binary: bin, Timeout: 2 * time.Second})
		_, err := waitGuest(t, p, cfg.Timeout)
		if !errors.Is(err, errGuestTimeout) {
			t.Fatalf("err = %v, want a timeout", err)
		}
		if err := syscall.Kill(-p.Pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process group %d still there after the kill: %v", p.Pid, err)
		}
	})
	res := RunGuest(t, GuestConfig{Run: "^TestGuest(Machine|ExitCode)$", Args: []string{"-test.v"}, Binary: bin})
	if res.ExitCode != 3 {
		t.Errorf("exit code %d, want 3 (from TestGuestExitCode)", res.ExitCode)
	}
	if !strings.Contains(res.Output, "--- PASS: TestGuestMachine") {
		t.Errorf("TestGuestMachine did not pass in the guest. Console:\n%s", res.Output)
	}
	// Nothing of the guest is left outside the test's temp dir.
	if _, err := os.Stat(os.Getenv("HOME") + "/.uml/shoal"); err == nil {
		t.Errorf("UML left ~/.uml/shoal behind")
	}
}

func TestGuestMachine(t *testing.T) {
	if !InGuest() {
		t.Skip("runs inside the user-mode-Linux guest of TestGuest")
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), " - cgroup2 ") || strings.Contains(string(b), " - cgroup ") {
		t.Errorf("want one cgroup2 hierarchy and no v1:\n%s", b)
	}
	b, err = os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(b)); strings.Join(got, " ") != "cpu io memory pids" {
		t.Errorf("subtree_control %q, want cpu io memory pids", got)
	}
	if _, err := os.Stat("/sys/dev/block/" + GuestDisk); err != nil {
		t.Errorf("guest disk %s: %v", GuestDisk, err)
	}
	if _, err := os.Stat("/proc/exitcode"); err != nil {
		t.Errorf("no /proc/exitcode: %v", err)
	}
}

func TestGuestExitCode(t *testing.T) {
	if !InGuest() {
		t.Skip("runs inside the user-mode-Linux guest of TestGuest")
	}
	os.Exit(3)
}

func TestGuestHang(t *testing.T) {
	if !InGuest() {
		t.Skip("runs inside the user-mode-Linux guest of TestGuest/timeout")
	}
	select {}
}
