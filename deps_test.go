package shoal_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/shoalkit/shoal"

// libraries are the SDK's packages, which import the standard library,
// third-party modules and internal/, never each other.
var libraries = []string{"cgroupx", "metrics", "netvlan", "imagefs", "sched", "autoscale", "inspect", "alertcorr"}

// allowedSibling is the one sibling import the design allows.
var allowedSibling = map[string]string{"metrics": "cgroupx"}

// pkg is a package of the module and everything it and its tests import.
type pkg struct {
	path    string
	imports []string
}

// topOf returns the first path element of a package inside the module ("" for
// the root package), and whether p is inside the module at all.
func topOf(p string) (string, bool) {
	if p == module {
		return "", true
	}
	rest, ok := strings.CutPrefix(p, module+"/")
	if !ok {
		return "", false
	}
	top, _, _ := strings.Cut(rest, "/")
	return top, true
}

// violations lists every import that breaks the one-way rule.
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		from, _ := topOf(p.path)
		for _, imp := range p.imports {
			to, inModule := topOf(imp)
			switch {
			case !inModule || to == from:
			case to == "examples":
				out = append(out, fmt.Sprintf("%s imports %s: nothing imports the example daemons", p.path, imp))
			case from == "examples":
			case slices.Contains(libraries, from) && to == "internal":
			case slices.Contains(libraries, to) && allowedSibling[from] == to:
			case slices.Contains(libraries, from) && slices.Contains(libraries, to):
				out = append(out, fmt.Sprintf("%s imports %s: library packages do not import siblings", p.path, imp))
			case from == "internal" && slices.Contains(libraries, to):
				out = append(out, fmt.Sprintf("%s imports %s: internal/ is below every library package", p.path, imp))
			case slices.Contains(libraries, from):
				out = append(out, fmt.Sprintf("%s imports %s: a library package imports only internal/ from this module", p.path, imp))
			}
		}
	}
	return out
}

func TestViolations(t *testing.T) {
	m := func(rel string) string { return module + "/" + rel }
	tests := []struct {
		name string
		pkgs []pkg
		want int
	}{
		{"own subtree and internal", []pkg{{m("cgroupx"), []string{m("cgroupx/cgroupxtest"), m("internal/testenv"), "os", "github.com/containerd/cgroups/v3"}}}, 0},
		{"metrics on cgroupx", []pkg{{m("metrics"), []string{m("cgroupx")}}}, 0},
		{"cgroupx/procview on cgroupx", []pkg{{m("cgroupx/procview"), []string{m("cgroupx"), "github.com/hanwen/go-fuse/v2/fuse"}}}, 0},
		{"cgroupx on metrics", []pkg{{m("cgroupx"), []string{m("metrics")}}}, 1},
		{"sched on inspect", []pkg{{m("sched"), []string{m("inspect")}}}, 1},
		{"netvlan model on imagefs", []pkg{{m("netvlan/ovsmodel"), []string{m("imagefs/imagefstest")}}}, 1},
		{"library on examples", []pkg{{m("alertcorr"), []string{m("examples/alertd")}}}, 1},
		{"internal on examples", []pkg{{m("internal/testenv"), []string{m("examples/pilot")}}}, 1},
		{"internal on a library", []pkg{{m("internal/testenv"), []string{m("netvlan")}}}, 1},
		{"example composes everything", []pkg{{m("examples/pilot"), []string{m("sched"), m("netvlan"), m("imagefs"), m("examples/internal/flags")}}}, 0},
		{"library on the root package", []pkg{{m("autoscale"), []string{module}}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := violations(tt.pkgs); len(got) != tt.want {
				t.Errorf("violations = %q, want %d", got, tt.want)
			}
		})
	}
}

// goList runs `go list` in dir (a module's root) and returns its output.
func goList(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", append([]string{"list"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s in %s: %v", strings.Join(args, " "), dir, err)
	}
	return string(out)
}

// TestImportDirection checks both modules as they are: every package's
// imports, its tests' imports included, keep the one-way rule.
func TestImportDirection(t *testing.T) {
	var pkgs []pkg
	for _, dir := range []string{".", "examples"} {
		out := goList(t, dir, "-e",
			"-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}{{range .TestImports}} {{.}}{{end}}{{range .XTestImports}} {{.}}{{end}}",
			"./...")
		for line := range strings.Lines(out) {
			f := strings.Fields(line)
			if len(f) > 0 {
				pkgs = append(pkgs, pkg{path: f[0], imports: f[1:]})
			}
		}
	}
	if !slices.ContainsFunc(pkgs, func(p pkg) bool { return p.path == module+"/examples/ctools" }) {
		t.Fatalf("go list did not list the examples module's packages: %d packages", len(pkgs))
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// heavyModules are what the daemons need and an importer of the SDK must not
// inherit: etcd and its grpc, protobuf-gateway and zap, the browser driver,
// Kubernetes.
var heavyModules = []string{"go.etcd.io/", "google.golang.org/grpc", "github.com/grpc-ecosystem/", "go.uber.org/zap", "github.com/chromedp/", "k8s.io/", "github.com/opencontainers/runc"}

// heavy returns the module paths of mods that are in heavyModules.
func heavy(mods []string) []string {
	var out []string
	for _, m := range mods {
		if slices.ContainsFunc(heavyModules, func(h string) bool { return strings.HasPrefix(m, h) }) {
			out = append(out, m)
		}
	}
	return out
}

func TestHeavy(t *testing.T) {
	got := heavy([]string{"go.etcd.io/etcd/client/v3", "golang.org/x/sys", "google.golang.org/grpc", "github.com/chromedp/chromedp", "github.com/google/go-containerregistry"})
	if want := []string{"go.etcd.io/etcd/client/v3", "google.golang.org/grpc", "github.com/chromedp/chromedp"}; !slices.Equal(got, want) {
		t.Errorf("heavy = %q, want %q", got, want)
	}
}

// TestSDKModuleStaysLight checks that no package the SDK module builds, tests
// included, comes from a heavy module, and that its go.mod requires none: the
// daemons' module (examples/) is where etcd, grpc and chromedp belong.
func TestSDKModuleStaysLight(t *testing.T) {
	built := strings.Fields(goList(t, ".", "-deps", "-test", "-f", "{{with .Module}}{{.Path}}{{end}}", "./..."))
	if bad := heavy(built); len(bad) > 0 {
		t.Errorf("the SDK module builds packages of %q; move what needs them to examples/", bad)
	}
	cmd := exec.CommandContext(t.Context(), "go", "mod", "edit", "-json")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod edit -json: %v", err)
	}
	var gomod struct{ Require []struct{ Path string } }
	if err := json.Unmarshal(out, &gomod); err != nil {
		t.Fatal(err)
	}
	var required []string
	for _, r := range gomod.Require {
		required = append(required, r.Path)
	}
	if len(required) == 0 {
		t.Fatal("go.mod requires nothing: go mod edit -json was not read")
	}
	if bad := heavy(required); len(bad) > 0 {
		t.Errorf("go.mod requires %q; the SDK module must not", bad)
	}
}

// TestCgroupxWithoutFUSE: a program that imports cgroupx (metrics, ctools)
// does not get go-fuse; only cgroupx/procview brings it.
func TestCgroupxWithoutFUSE(t *testing.T) {
	for _, dep := range strings.Fields(goList(t, ".", "-deps", "./cgroupx", "./metrics")) {
		if strings.HasPrefix(dep, "github.com/hanwen/go-fuse") || dep == module+"/cgroupx/procview" {
			t.Errorf("cgroupx or metrics depends on %s", dep)
		}
	}
}
