package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestMissingFirefox(t *testing.T) {
	found := func(cmd string) (string, error) { return "/usr/bin/" + cmd, nil }
	notFound := func(string) (string, error) { return "", errors.New("not found") }
	for _, tt := range []struct {
		name, list string
		lookPath   func(string) (string, error)
		want       string
	}{
		{"present", "firefox-esr firefox-esr\n", found, ""},
		{"not installed", "firefox-esr firefox-esr\n", notFound, "firefox-esr needs firefox-esr, not found in PATH (Debian package firefox-esr"},
		{"not listed", "iproute2 ip\n", found, "package firefox-esr is not in debian-packages.txt"},
	} {
		err := probe{lookPath: tt.lookPath, packages: packageCommands(tt.list)}.missingPackage(firefoxPackage)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: missingPackage() = %v, want %q", tt.name, err, tt.want)
		}
	}
	if cmds := packageCommands(debianPackages)[firefoxPackage]; len(cmds) == 0 || cmds[0] != "firefox-esr" {
		t.Errorf("debian-packages.txt: firefox-esr lists %v", cmds)
	}
}

// The profile holds the Marionette port and keeps the browser offline.
func TestFindFirefox(t *testing.T) {
	f := FindFirefox(t)
	b, err := os.ReadFile(filepath.Join(f.ProfileDir, "user.js"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`user_pref("marionette.port", ` + strconv.Itoa(f.Port) + `);`, `user_pref("app.update.enabled", false);`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("user.js lacks %s:\n%s", want, b)
		}
	}
	if f.Port <= 0 || f.Port >= 32768 || !filepath.IsAbs(f.Path) {
		t.Errorf("port %d, path %q", f.Port, f.Path)
	}
}
