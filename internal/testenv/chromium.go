package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Chromium is a headless Chromium (Debian chromium) for the dashboard's
// browser tests: the binary and the flags for a throw-away, offline
// browser. testenv starts no browser itself (the driver, chromedp, belongs
// to the daemons' module, not to the SDK's); a test passes Path and Args to
// its driver, which starts the browser and stops it by its pid.
type Chromium struct {
	// Path is the browser binary, /usr/bin/chromium on Debian.
	Path string
	// UserDataDir is a fresh profile in the test's temp dir.
	UserDataDir string
	// Args are the command-line flags, --name or --name=value: headless,
	// no sandbox (tests run as root, where Chromium's sandbox refuses to
	// start), no GPU, and nothing that talks to the internet (first-run,
	// background networking, component updates, sync).
	Args []string
}

// chromiumPackage is the Debian package behind FindChromium.
const chromiumPackage = "chromium"

// FindChromium returns the browser with its flags and a fresh profile. It
// skips t when chromium is missing, and fails it instead when
// SHOAL_INTEGRATION=require, as Require does.
func FindChromium(t testing.TB) Chromium {
	t.Helper()
	msg, fatal := decide(os.Getenv(IntegrationEnv), hostProbe().missingChromium())
	switch {
	case fatal:
		t.Fatal(msg)
	case msg != "":
		t.Skip(msg)
	}
	dir := filepath.Join(t.TempDir(), "chromium-profile")
	return Chromium{
		Path:        path(t, "chromium"),
		UserDataDir: dir,
		Args: []string{
			"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			// Containers often have a small /dev/shm; a tab that runs out
			// of it crashes.
			"--disable-dev-shm-usage",
			"--user-data-dir=" + dir,
		},
	}
}

// missingChromium says why chromium cannot run here, or nil.
func (p probe) missingChromium() error {
	cmds, ok := p.packages[chromiumPackage]
	if !ok {
		return fmt.Errorf("testenv: chromium: package %s is not in debian-packages.txt", chromiumPackage)
	}
	for _, cmd := range cmds {
		if _, err := p.lookPath(cmd); err != nil {
			return fmt.Errorf("testenv: chromium needs %s, not found in PATH (Debian package %s; `make test` as root installs it)", cmd, chromiumPackage)
		}
	}
	return nil
}
