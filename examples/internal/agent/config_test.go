package agent_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/cgroupx/procview"
	"github.com/shoalkit/shoal/examples/internal/agent"
	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/internal/errs"
)

// TestNewRejects walks New's error paths: each names the Config field and
// has the package's one error shape.
func TestNewRejects(t *testing.T) {
	rt, err := container.New(container.Config{Root: t.TempDir(), LogDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	store, err := imagefs.OpenStore(t.Context(), imagefs.DefaultStoreConfig(t.TempDir()))
	if err != nil {
		t.Skipf("store: %v", err)
	}
	good := agent.Config{
		Node: state.Node{Name: "n1"}, Etcd: &clientv3.Client{}, Runtime: rt, Store: store,
		StateDir: t.TempDir(), VolumeDir: t.TempDir(),
	}
	if _, err := agent.New(good); err != nil {
		t.Fatalf("New with only the required fields: %v", err)
	}
	view, err := procview.New(t.Context(), procview.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sysinfo := func(c *agent.Config) {
		c.Sysinfo, c.ProcView, c.ProcViewServer, c.SysinfoSocket = true, "/var/lib/shoal/procview", view, "/run/shoal/sysinfo.sock"
	}
	withSysinfo := good
	sysinfo(&withSysinfo)
	if _, err := agent.New(withSysinfo); err != nil {
		t.Fatalf("New with Sysinfo: %v", err)
	}
	for _, tt := range []struct {
		name, field string
		edit        func(*agent.Config)
	}{
		{"zero config", "Config.Node.Name", func(c *agent.Config) { *c = agent.Config{} }},
		{"no etcd", "Config.Etcd", func(c *agent.Config) { c.Etcd = nil }},
		{"no runtime", "Config.Runtime", func(c *agent.Config) { c.Runtime = nil }},
		{"no store", "Config.Store", func(c *agent.Config) { c.Store = nil }},
		{"no state dir", "Config.StateDir", func(c *agent.Config) { c.StateDir = "" }},
		{"no volume dir", "Config.VolumeDir", func(c *agent.Config) { c.VolumeDir = "" }},
		{"negative parallel", "Config.Parallel", func(c *agent.Config) { c.Parallel = -1 }},
		{"relative volume root", "Config.VolumeRoots", func(c *agent.Config) { c.VolumeRoots = []string{"srv"} }},
		{"volume root /", "Config.VolumeRoots", func(c *agent.Config) { c.VolumeRoots = []string{"/"} }},
		{"short lease", "Config.LeaseTTL", func(c *agent.Config) { c.LeaseTTL = time.Second }},
		{"sysinfo without procview", "Config.ProcView", func(c *agent.Config) { sysinfo(c); c.ProcView = "" }},
		{"sysinfo without server", "Config.ProcViewServer", func(c *agent.Config) { sysinfo(c); c.ProcViewServer = nil }},
		{"sysinfo without socket", "Config.SysinfoSocket", func(c *agent.Config) { sysinfo(c); c.SysinfoSocket = "" }},
		{"sysinfo relative socket", "Config.SysinfoSocket", func(c *agent.Config) { sysinfo(c); c.SysinfoSocket = "run/s.sock" }},
		{"sysinfo long socket", "Config.SysinfoSocket", func(c *agent.Config) { sysinfo(c); c.SysinfoSocket = "/" + strings.Repeat("s", 107) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			_, err := agent.New(cfg)
			if !errors.Is(err, agent.ErrInvalid) {
				t.Fatalf("New = %v, want ErrInvalid", err)
			}
			if err := errs.CheckShape(err, "agent", agent.ErrInvalid); err != nil {
				t.Error(err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("%v does not name %s", err, tt.field)
			}
		})
	}
}
