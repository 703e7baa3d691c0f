package testenv

import (
	"errors"
	"strings"
	"testing"
)

func TestMissing(t *testing.T) {
	pkgs := packageCommands("# comment\nopenvswitch-switch ovsdb-server ovs-vswitchd\niproute2 ip\n\ndocker-registry docker-registry\n")
	have := func(names ...string) func(string) (string, error) {
		return func(cmd string) (string, error) {
			for _, n := range names {
				if n == cmd {
					return "/usr/sbin/" + cmd, nil
				}
			}
			return "", errors.New("not found")
		}
	}
	tests := []struct {
		name      string
		c         Component
		euid      int
		lookPath  func(string) (string, error)
		wantInErr []string // empty: no error
	}{
		{"registry present", OCIRegistry, 1000, have("docker-registry"), nil},
		{"registry missing", OCIRegistry, 0, have(), []string{"needs docker-registry, not found in PATH", "Debian package docker-registry"}},
		{"netns without root", Netns, 1000, have("ip"), []string{"netns needs root", "uid 1000"}},
		{"ovs without ovsdb-server", OVS, 0, have("ip", "ovs-vswitchd"), []string{"ovs needs ovsdb-server", "openvswitch-switch"}},
		{"ovs without vswitchd", OVS, 0, have("ip", "ovsdb-server"), []string{"ovs needs ovs-vswitchd"}},
		{"package not listed", Ping, 0, have("ping"), []string{"iputils-ping is not in debian-packages.txt"}},
		{"root as uid 1000", Root, 1000, have(), []string{"root needs root", "uid 1000"}},
		{"root as root", Root, 0, have(), nil},
		{"unknown component", Component("nope"), 0, have(), []string{`unknown component "nope"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := probe{euid: tt.euid, lookPath: tt.lookPath, packages: pkgs}
			err := p.missing(tt.c)
			if len(tt.wantInErr) == 0 {
				if err != nil {
					t.Fatalf("missing(%s) = %v, want nil", tt.c, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("missing(%s) = nil, want an error containing %q", tt.c, tt.wantInErr)
			}
			for _, w := range tt.wantInErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing(%s) = %q, want it to contain %q", tt.c, err, w)
				}
			}
		})
	}
}

func TestDecide(t *testing.T) {
	gone := errors.New("testenv: ovs needs ovsdb-server, not found in PATH")
	tests := []struct {
		mode      string
		missing   error
		wantFatal bool
		wantSkip  bool
		wantInMsg string
	}{
		{"", nil, false, false, ""},
		{"", gone, false, true, "ovsdb-server"},
		{"require", nil, false, false, ""},
		{"require", gone, true, false, "SHOAL_INTEGRATION=require"},
		{"off", nil, false, true, "SHOAL_INTEGRATION=off"},
		{"off", gone, false, true, "SHOAL_INTEGRATION=off"},
		{"anything", gone, false, true, "set SHOAL_INTEGRATION=require"},
	}
	for _, tt := range tests {
		msg, fatal := decide(tt.mode, tt.missing)
		if fatal != tt.wantFatal || (msg != "" && !fatal) != tt.wantSkip {
			t.Errorf("decide(%q, %v) = (%q, fatal %v), want fatal %v skip %v", tt.mode, tt.missing, msg, fatal, tt.wantFatal, tt.wantSkip)
		}
		if !strings.Contains(msg, tt.wantInMsg) {
			t.Errorf("decide(%q, %v) message %q, want it to contain %q", tt.mode, tt.missing, msg, tt.wantInMsg)
		}
	}
}

// TestPackageList checks the one list of Debian packages: every component's
// packages are in it, each with the commands testenv looks up.
func TestPackageList(t *testing.T) {
	pkgs := packageCommands(debianPackages)
	for _, c := range []Component{Root, OVS, Netns, Ping, Ethtool, Cgroups, OCIRegistry, Runc, Skopeo, Lxcfs, Procps, Containerd, Umoci, Promtool, CarbonCache, PrometheusServer, AlertmanagerServer, NodeExporterServer} {
		spec, ok := specOf(c)
		if !ok {
			t.Fatalf("component %s has no spec", c)
		}
		for _, p := range spec.packages {
			if len(pkgs[p]) == 0 {
				t.Errorf("component %s needs package %s, which debian-packages.txt does not list with its commands", c, p)
			}
		}
	}
	if got := pkgs["openvswitch-switch"]; len(got) == 0 || got[0] != "ovsdb-tool" {
		t.Errorf("openvswitch-switch commands = %v", got)
	}
}
