package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Firefox is a headless Firefox ESR (Debian firefox-esr) for the
// dashboard's browser tests, driven over its Marionette protocol (JSON
// over TCP; Debian packages no geckodriver): the binary, a fresh profile
// whose prefs keep it offline, and the Marionette port on 127.0.0.1. As
// with Chromium, testenv starts no browser; the test starts Path with Args
// and stops it by its pid.
type Firefox struct {
	// Path is the browser binary, /usr/bin/firefox-esr on Debian.
	Path string
	// ProfileDir is a fresh profile in the test's temp dir, with a user.js.
	ProfileDir string
	// Port is the Marionette server's port (127.0.0.1, below 32768).
	Port int
	// Args are the command-line flags: headless, Marionette on, this
	// profile, no remote control of another instance.
	Args []string
}

// firefoxPackage is the Debian package behind FindFirefox.
const firefoxPackage = "firefox-esr"

// firefoxPrefs are the profile's prefs (name, JavaScript value) that keep
// a test's Firefox from talking to the internet (updates, telemetry, safe
// browsing, remote settings, captive portal checks) and from first-run
// pages; FindFirefox adds the Marionette port.
func firefoxPrefs() [][2]string {
	return [][2]string{
		{"app.update.enabled", "false"},
		{"app.update.auto", "false"},
		{"browser.shell.checkDefaultBrowser", "false"},
		{"browser.startup.homepage_override.mstone", `"ignore"`},
		{"browser.aboutwelcome.enabled", "false"},
		{"datareporting.policy.dataSubmissionEnabled", "false"},
		{"datareporting.healthreport.uploadEnabled", "false"},
		{"toolkit.telemetry.enabled", "false"},
		{"toolkit.telemetry.reportingpolicy.firstRun", "false"},
		{"browser.safebrowsing.malware.enabled", "false"},
		{"browser.safebrowsing.phishing.enabled", "false"},
		{"browser.safebrowsing.downloads.enabled", "false"},
		{"extensions.update.enabled", "false"},
		{"extensions.getAddons.cache.enabled", "false"},
		{"network.captive-portal-service.enabled", "false"},
		{"network.connectivity-service.enabled", "false"},
		{"services.settings.server", `"http://127.0.0.1:1/"`},
		{"browser.newtabpage.enabled", "false"},
		{"browser.ping-centre.telemetry", "false"},
		{"network.dns.disablePrefetch", "true"},
		{"network.prefetch-next", "false"},
		{"browser.region.network.url", `""`},
		{"browser.search.update", "false"},
		{"media.gmp-manager.url", `"http://127.0.0.1:1/"`},
		{"security.OCSP.enabled", "0"},
	}
}

// FindFirefox returns the browser with its flags, a fresh profile and a
// free Marionette port. It skips t when firefox-esr is missing, and fails
// it instead when SHOAL_INTEGRATION=require, as Require does.
func FindFirefox(t testing.TB) Firefox {
	t.Helper()
	msg, fatal := decide(os.Getenv(IntegrationEnv), hostProbe().missingPackage(firefoxPackage))
	switch {
	case fatal:
		t.Fatal(msg)
	case msg != "":
		t.Skip(msg)
	}
	dir := filepath.Join(t.TempDir(), "firefox-profile")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	prefs := fmt.Appendf(nil, "user_pref(%q, %d);\n", "marionette.port", port)
	for _, kv := range firefoxPrefs() {
		prefs = fmt.Appendf(prefs, "user_pref(%q, %s);\n", kv[0], kv[1])
	}
	if err := os.WriteFile(filepath.Join(dir, "user.js"), prefs, 0o600); err != nil {
		t.Fatal(err)
	}
	return Firefox{
		Path: path(t, "firefox-esr"), ProfileDir: dir, Port: port,
		Args: []string{"--headless", "--marionette", "--no-remote", "--profile", dir},
	}
}

// missingPackage says why a package's commands cannot run here, or nil.
func (p probe) missingPackage(pkg string) error {
	cmds, ok := p.packages[pkg]
	if !ok {
		return fmt.Errorf("testenv: package %s is not in debian-packages.txt", pkg)
	}
	for _, cmd := range cmds {
		if _, err := p.lookPath(cmd); err != nil {
			return fmt.Errorf("testenv: %s needs %s, not found in PATH (Debian package %s; `make test` as root installs it)", pkg, cmd, pkg)
		}
	}
	return nil
}
