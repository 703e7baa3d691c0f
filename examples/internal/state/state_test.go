package state_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/errs"
)

func valid() state.Instance {
	return state.Instance{
		ID: "web-1", App: "web", Node: "n1", Generation: 1, RequestID: "req-1",
		Image: "127.0.0.1:5000/web:1", Command: []string{"/bin/sh", "-c", "sleep 1"}, Env: []string{"A=1"},
		Kind: state.Fat, User: "1000:1000",
		Resources: state.Resources{CPUs: 0.5, MemoryBytes: 256 << 20, PIDs: 100, Devices: []state.DeviceLimit{{Device: "8:0", ReadBps: 1 << 20}}},
		Network:   &state.Network{VLAN: 10, IP: netip.MustParsePrefix("10.0.10.5/24"), Gateway: netip.MustParseAddr("10.0.10.1")},
		Volume:    &state.Volume{SizeBytes: 64 << 20, Mount: "/export"},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*state.Instance)
		field string // "" = valid
	}{
		{"valid", func(*state.Instance) {}, ""},
		{"thin", func(in *state.Instance) { in.Kind, in.Network = state.Thin, nil }, ""},
		{"uid only", func(in *state.Instance) { in.User = "0" }, ""},
		{"id upper", func(in *state.Instance) { in.ID = "Web" }, "id"},
		{"id newline", func(in *state.Instance) { in.ID = "a\nb" }, "id"},
		{"id too long", func(in *state.Instance) { in.ID = strings.Repeat("a", 64) }, "id"},
		{"app empty", func(in *state.Instance) { in.App = "" }, "app"},
		{"node dash", func(in *state.Instance) { in.Node = "-n" }, "node"},
		{"generation", func(in *state.Instance) { in.Generation = 0 }, "generation"},
		{"request id newline", func(in *state.Instance) { in.RequestID = "a\nb" }, "request_id"},
		{"image empty", func(in *state.Instance) { in.Image = "" }, "image"},
		{"image space", func(in *state.Instance) { in.Image = "a b" }, "image"},
		{"env no =", func(in *state.Instance) { in.Env = []string{"A"} }, "env[0]"},
		{"command NUL", func(in *state.Instance) { in.Command = []string{"a\x00"} }, "command[0]"},
		{"user name", func(in *state.Instance) { in.User = "root" }, "user"},
		{"user three", func(in *state.Instance) { in.User = "1:2:3" }, "user"},
		{"user -1", func(in *state.Instance) { in.User = "4294967295" }, "user"},
		{"kind", func(in *state.Instance) { in.Kind = "" }, "kind"},
		{"fat without network", func(in *state.Instance) { in.Network = nil }, "network"},
		{"thin with network", func(in *state.Instance) { in.Kind = state.Thin }, "network"},
		{"vlan 0", func(in *state.Instance) { in.Network.VLAN = 0 }, "network.vlan"},
		{"vlan 4095", func(in *state.Instance) { in.Network.VLAN = 4095 }, "network.vlan"},
		{"ip missing", func(in *state.Instance) { in.Network.IP = netip.Prefix{} }, "network.ip"},
		{"ip v6", func(in *state.Instance) { in.Network.IP = netip.MustParsePrefix("fd00::5/64") }, "network.ip"},
		{"ip /32", func(in *state.Instance) { in.Network.IP = netip.MustParsePrefix("10.0.0.5/32") }, "network.ip"},
		{"gateway outside", func(in *state.Instance) { in.Network.Gateway = netip.MustParseAddr("10.9.9.1") }, "network.gateway"},
		{"gateway is the ip", func(in *state.Instance) { in.Network.Gateway = in.Network.IP.Addr() }, "network.gateway"},
		{"memory below floor", func(in *state.Instance) { in.Resources.MemoryBytes = 1 << 20 }, "resources.memory_bytes"},
		{"memory negative", func(in *state.Instance) { in.Resources.MemoryBytes = -1 }, "resources.memory_bytes"},
		{"cpus negative", func(in *state.Instance) { in.Resources.CPUs = -1 }, "resources.cpus"},
		{"cpus tiny", func(in *state.Instance) { in.Resources.CPUs = 0.001 }, "resources.cpus"},
		{"cpus huge", func(in *state.Instance) { in.Resources.CPUs = 1e9 }, "resources.cpus"},
		{"cpu weight", func(in *state.Instance) { in.Resources.CPUWeight = 10001 }, "resources.cpu_weight"},
		{"pids", func(in *state.Instance) { in.Resources.PIDs = -5 }, "resources.pids"},
		{"io weight", func(in *state.Instance) { in.Resources.IOWeight = 5 }, "resources.io_weight"},
		{"cpuset", func(in *state.Instance) { in.Resources.CPUSet = "0-3;rm" }, "resources.cpuset"},
		{"device", func(in *state.Instance) { in.Resources.Devices[0].Device = "sda" }, "resources.devices[0].device"},
		{"volume small", func(in *state.Instance) { in.Volume.SizeBytes = 1 }, "volume.size_bytes"},
		{"volume root", func(in *state.Instance) { in.Volume.Mount = "/" }, "volume.mount"},
		{"volume relative", func(in *state.Instance) { in.Volume.Mount = "export" }, "volume.mount"},
		{"volume dotdot", func(in *state.Instance) { in.Volume.Mount = "/a/../proc" }, "volume.mount"},
		{"bind host relative", func(in *state.Instance) { in.Binds = []state.Bind{{HostPath: "srv", Mount: "/srv"}} }, "binds[0].host_path"},
		{"bind host dotdot", func(in *state.Instance) { in.Binds = []state.Bind{{HostPath: "/srv/../etc", Mount: "/srv"}} }, "binds[0].host_path"},
		{"bind into proc", func(in *state.Instance) {
			in.Binds = []state.Bind{{HostPath: "/srv/a", Mount: "/srv"}, {HostPath: "/srv/b", Mount: "/proc/x"}}
		}, "binds[1].mount"},
		{"too many binds", func(in *state.Instance) { in.Binds = make([]state.Bind, state.MaxBinds+1) }, "binds"},
		{"volume proc", func(in *state.Instance) { in.Volume.Mount = "/proc/x" }, "volume.mount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid()
			tt.edit(&in)
			err := in.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var fe *state.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Validate = %v, want a FieldError on %q", err, tt.field)
			}
			if shape := errs.CheckShape(err, "state", state.ErrInvalid); shape != nil {
				t.Error(shape)
			}
			if !strings.Contains(err.Error(), tt.field+": ") {
				t.Errorf("message %q does not name %q", err, tt.field)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	var in state.Instance
	if err := state.Decode([]byte(`{"id":"a","app":"b","node":"c","generation":1,"image":"i","kind":"thin","future_field":1}`), &in); err != nil || in.ID != "a" {
		t.Fatalf("Decode of a valid value with an unknown field = %v, %+v", err, in)
	}
	for name, data := range map[string]string{
		"not json":      `{"id":`,
		"wrong type":    `{"id":5}`,
		"trailing data": `{"id":"a","app":"b","node":"c","generation":1,"image":"i","kind":"thin"} {}`,
		"invalid":       `{"id":"A"}`,
		"too large":     `{"id":"` + strings.Repeat("a", state.MaxValueBytes) + `"}`,
	} {
		err := state.Decode([]byte(data), &in)
		if shape := errs.CheckShape(err, "state", state.ErrInvalid); shape != nil {
			t.Errorf("%s: %v", name, shape)
		}
	}
}

func TestSplitInstanceKey(t *testing.T) {
	for _, tt := range []struct {
		key      string
		node, id string
		ok       bool
	}{
		{state.DesiredKey("n1", "web-1"), "n1", "web-1", true},
		{state.StatusKey("n2", "db-3"), "n2", "db-3", true},
		{state.NodeKey("n1"), "", "", false},
		{state.DesiredPrefix("n1"), "n1", "", false},
		{state.DesiredKey("n1", "a/b"), "n1", "a/b", false},
	} {
		node, id, ok := state.SplitInstanceKey(tt.key)
		if node != tt.node || id != tt.id || ok != tt.ok {
			t.Errorf("SplitInstanceKey(%q) = %q %q %v, want %q %q %v", tt.key, node, id, ok, tt.node, tt.id, tt.ok)
		}
	}
}

func FuzzDecodeInstance(f *testing.F) {
	f.Add([]byte(`{"id":"a","app":"b","node":"c","generation":1,"image":"i","kind":"fat","network":{"vlan":10,"ip":"10.0.0.2/24"}}`))
	f.Add([]byte(`{"resources":{"cpus":1e308,"memory_bytes":-9223372036854775808},"volume":{"size_bytes":1,"mount":"/x"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var in state.Instance
		err := state.Decode(data, &in)
		if err == nil {
			if verr := in.Validate(); verr != nil {
				t.Fatalf("Decode accepted what Validate refuses: %v", verr)
			}
			return
		}
		if !errors.Is(err, state.ErrInvalid) {
			t.Fatalf("Decode error %v is not ErrInvalid", err)
		}
	})
}
