package testenv

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// leftovers is what the child test process made, for its parent to look for
// afterwards.
type leftovers struct {
	Pids       []int
	Namespaces []string // paths under /run/netns
	HostLinks  []string // interfaces made in the test process's namespace
	Dirs       []string // temp dirs and cgroup directories
}

// recordEnv names the file the child test process writes its leftovers to;
// its presence is what makes TestNothingLeftBehind act as the child.
const recordEnv = "SHOAL_TESTENV_RECORD"

// makeOneOfEverything is the child's side of TestNothingLeftBehind: it
// starts one of everything, writes down what it made, and then passes or
// fails as asked.
func makeOneOfEverything(t *testing.T, record string) {
	sw := StartOVS(t, WithTCP())
	sw.AddBridge(t, "br0")
	ns := NewNetns(t)
	sw.AccessPort(t, "br0", ns, 30, "10.98.0.1/24")
	veth := NewVeth(t, nil, ns)
	cg := NewCgroup(t)
	inCg := cg.Start(t, "sleep", "300")
	reg := StartRegistry(t)
	plain := StartProcess(t, "sleep", "300")
	server, vswitchd := sw.Pids()

	l := leftovers{
		Pids:       []int{server, vswitchd, inCg.Pid, reg.Pid(), plain.Pid},
		Namespaces: []string{sw.Host.Path, ns.Path},
		HostLinks:  []string{veth.A},
		Dirs:       append([]string{sw.Dir, t.TempDir(), filepath.Dir(reg.Storage)}, cg.Dirs()...),
	}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(record, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Getenv(recordEnv+"_FAIL") != "" {
		t.Fatal("failing on purpose: cleanup must still remove everything")
	}
}

// TestNothingLeftBehind runs itself again in a child test process, which
// starts one of everything and then passes or fails, and checks that
// afterwards none of the child's processes, namespaces, interfaces, cgroups
// or temp dirs remain.
func TestNothingLeftBehind(t *testing.T) {
	Require(t, OVS, Netns, Ethtool, Cgroups, OCIRegistry)
	if record := os.Getenv(recordEnv); record != "" {
		makeOneOfEverything(t, record)
		return
	}
	for _, fail := range []bool{false, true} {
		t.Run("fail="+strconv.FormatBool(fail), func(t *testing.T) {
			record := filepath.Join(t.TempDir(), "leftovers.json")
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestNothingLeftBehind$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), recordEnv+"="+record)
			if fail {
				cmd.Env = append(cmd.Env, recordEnv+"_FAIL=1")
			}
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			switch {
			case !fail && err != nil:
				t.Fatalf("helper failed: %v\n%s", err, out)
			case fail && (!errors.As(err, &exit) || !strings.Contains(string(out), "failing on purpose")):
				t.Fatalf("helper should have failed on purpose, got %v\n%s", err, out)
			}
			b, err := os.ReadFile(record)
			if err != nil {
				t.Fatalf("helper wrote no record: %v\n%s", err, out)
			}
			var l leftovers
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatal(err)
			}
			if len(l.Pids) != 5 || len(l.Namespaces) != 2 || len(l.Dirs) < 4 {
				t.Fatalf("record incomplete: %+v", l)
			}
			for _, pid := range l.Pids {
				if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
					t.Errorf("pid %d still exists (kill 0: %v)", pid, err)
				}
			}
			for _, p := range append(l.Namespaces, l.Dirs...) {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s still exists", p)
				}
			}
			for _, link := range l.HostLinks {
				if _, err := os.Stat("/sys/class/net/" + link); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("interface %s still exists", link)
				}
			}
			for _, tap := range []string{"ovs-netdev", "br0"} {
				if _, err := os.Stat("/sys/class/net/" + tap); err == nil {
					t.Errorf("tap %s leaked into the host namespace", tap)
				}
			}
		})
	}
}
