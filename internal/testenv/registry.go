package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Registry is an OCI registry (Debian's docker-registry, the CNCF
// distribution registry) made for one test: its own config listening on
// 127.0.0.1 only, storage in the test's temp dir, no auth.
type Registry struct {
	Addr    string // "127.0.0.1:PORT", as image references take it
	URL     string // "http://" + Addr
	Storage string // the filesystem storage root

	proc *Process
}

// registryConfig is written for each registry; the packaged
// /etc/docker/registry/config.yml listens on all interfaces and is never
// used.
const registryConfig = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: %s
`

// StartRegistry starts docker-registry for the test, waits until /v2/
// answers, and stops it by pid in t.Cleanup.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	Require(t, OCIRegistry)
	dir := t.TempDir()
	r := &Registry{Storage: filepath.Join(dir, "storage")}
	r.Addr = "127.0.0.1:" + strconv.Itoa(FreePort(t))
	r.URL = "http://" + r.Addr
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, registryConfig, r.Storage, r.Addr, uniqueName("s")), 0o600); err != nil {
		t.Fatalf("testenv: registry config: %v", err)
	}
	r.proc = StartProcess(t, path(t, "docker-registry"), "serve", cfg)
	r.waitReady(t)
	return r
}

// Pid is the registry process's pid.
func (r *Registry) Pid() int { return r.proc.Pid }

// Stop stops the registry (SIGTERM); its storage stays for a restart.
func (r *Registry) Stop(t testing.TB) { t.Helper(); r.proc.Stop(t) }

// Restart stops the registry and starts it again on the same address and
// storage, as a registry restart test needs.
func (r *Registry) Restart(t testing.TB) {
	t.Helper()
	r.proc.Stop(t)
	cfg := filepath.Join(filepath.Dir(r.Storage), "config.yml")
	r.proc = StartProcess(t, path(t, "docker-registry"), "serve", cfg)
	r.waitReady(t)
}

func (r *Registry) waitReady(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+"/v2/", nil)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-r.proc.Done():
			t.Fatalf("testenv: docker-registry exited before answering on %s: %v\n%s", r.Addr, r.proc.Err(), r.proc.Output())
		case <-ctx.Done():
			t.Fatalf("testenv: docker-registry not answering on %s after %v: %v\n%s", r.Addr, readyTimeout, err, r.proc.Output())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
