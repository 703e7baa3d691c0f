package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/state"
)

func cleanRoots(roots []string) bool {
	for _, r := range roots {
		if !filepath.IsAbs(r) || filepath.Clean(r) != r || r == "/" {
			return false
		}
	}
	return true
}

// binds checks the instance's host paths against Config.VolumeRoots and
// returns them as bind mounts. A path is resolved first (symbolic links
// followed), so a link under a root that leads out of it is refused too.
func (a *Agent) binds(want state.Instance) ([]container.Mount, error) {
	var out []container.Mount
	for i, b := range want.Binds {
		field := fmt.Sprintf("binds[%d].host_path", i)
		real, err := filepath.EvalSymlinks(b.HostPath)
		if err != nil {
			return nil, fail("HostPathNotAllowed", field, fmt.Errorf("agent: host path %q: %w", b.HostPath, err))
		}
		if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
			return nil, fail("HostPathNotAllowed", field, fmt.Errorf("agent: host path %q is not a directory", b.HostPath))
		}
		if !a.underRoot(real) {
			return nil, fail("HostPathNotAllowed", field, fmt.Errorf("agent: host path %q (%s) is outside the allowed volume roots %q", b.HostPath, real, a.cfg.VolumeRoots))
		}
		out = append(out, container.Mount{Source: real, Destination: b.Mount, ReadOnly: b.ReadOnly})
	}
	return out, nil
}

// underRoot reports whether the resolved path p is a volume root or below one.
func (a *Agent) underRoot(p string) bool {
	for _, r := range a.cfg.VolumeRoots {
		root, err := filepath.EvalSymlinks(r)
		if err != nil {
			continue // a root that is not there holds nothing
		}
		if p == root || strings.HasPrefix(p, root+string(filepath.Separator)) {
			return true
		}
	}
	return false
}
