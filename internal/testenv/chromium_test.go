package testenv

import (
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMissingChromium(t *testing.T) {
	found := func(cmd string) (string, error) { return "/usr/bin/" + cmd, nil }
	notFound := func(string) (string, error) { return "", errors.New("not found") }
	tests := []struct {
		name     string
		list     string
		lookPath func(string) (string, error)
		want     string // "" for no error
	}{
		{"present", "chromium chromium\n", found, ""},
		{"not installed", "chromium chromium\n", notFound, "chromium needs chromium, not found in PATH (Debian package chromium"},
		{"not listed", "iproute2 ip\n", found, "package chromium is not in debian-packages.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := probe{lookPath: tt.lookPath, packages: packageCommands(tt.list)}.missingChromium()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("missingChromium() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("missingChromium() = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	// The real list names the package and its command.
	if cmds := packageCommands(debianPackages)[chromiumPackage]; len(cmds) == 0 || cmds[0] != "chromium" {
		t.Errorf("debian-packages.txt: chromium lists %v, want the chromium command", cmds)
	}
}

// The browser found starts with the flags given and prints its version.
func TestFindChromium(t *testing.T) {
	c := FindChromium(t)
	if !filepath.IsAbs(c.UserDataDir) || !slices.Contains(c.Args, "--user-data-dir="+c.UserDataDir) {
		t.Errorf("profile %q is not absolute or not among the flags %v", c.UserDataDir, c.Args)
	}
	out, err := exec.CommandContext(t.Context(), c.Path, append(c.Args, "--version")...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Chromium") {
		t.Fatalf("%s --version: %v: %s", c.Path, err, out)
	}
}
