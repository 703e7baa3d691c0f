package testenv

import (
	"context"
	"fmt"
	"net"
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

	proc   *Process
	probe  *http.Client // asks /v2/ whether the registry is up
	fabric *Fabric      // nil: the test's own namespace
	host   int
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

// RegistryOption changes how StartRegistry runs the registry.
type RegistryOption func(*Registry)

// OnFabric runs the registry as host k of fabric f: inside the fabric's
// namespace, listening on f.Addr(k), everything it sends shaped to host
// k's uplink and counted by f.Sent(k). Reach it with a fabric Client.
func OnFabric(f *Fabric, k int) RegistryOption {
	return func(r *Registry) { r.fabric, r.host = f, k }
}

// StartRegistry starts docker-registry for the test, waits until /v2/
// answers, and stops it by pid in t.Cleanup.
func StartRegistry(t testing.TB, opts ...RegistryOption) *Registry {
	t.Helper()
	Require(t, OCIRegistry)
	dir := t.TempDir()
	r := &Registry{Storage: filepath.Join(dir, "storage")}
	for _, o := range opts {
		o(r)
	}
	if r.fabric != nil {
		r.fabric.checkHost(t, r.host)
		r.Addr = net.JoinHostPort(r.fabric.Addr(r.host), strconv.Itoa(r.fabric.Port()))
		r.probe = r.fabric.client(t, "127.0.0.1")
	} else {
		r.Addr = "127.0.0.1:" + strconv.Itoa(FreePort(t))
		r.probe = http.DefaultClient
	}
	r.URL = "http://" + r.Addr
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, registryConfig, r.Storage, r.Addr, uniqueName("s")), 0o600); err != nil {
		t.Fatalf("testenv: registry config: %v", err)
	}
	r.start(t)
	return r
}

// start runs docker-registry serve with the config next to the storage and
// waits until it answers.
func (r *Registry) start(t testing.TB) {
	t.Helper()
	cfg := filepath.Join(filepath.Dir(r.Storage), "config.yml")
	var ns *Namespace
	if r.fabric != nil {
		ns = r.fabric.NS
	}
	r.proc = startCmd(t, commandIn(ns, path(t, "docker-registry"), "serve", cfg))
	r.waitReady(t)
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
	r.start(t)
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
		resp, err := r.probe.Do(req)
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
