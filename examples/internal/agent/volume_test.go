package agent_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/agent"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/testenv"
)

func volumes(t *testing.T, url string) []agent.VolumeInfo {
	t.Helper()
	code, body := api(t, "GET", url+"/v1/volumes", "s3cret", "")
	if code != 200 {
		t.Fatalf("GET /v1/volumes: %d %s", code, body)
	}
	var out []agent.VolumeInfo
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVolumes: a volume outlives its instance, is listed, cannot be
// removed while its instance is desired, and is removed for good through
// the API.
func TestVolumes(t *testing.T) {
	n := newNode(t)
	n.startAgent()
	url := serve(t, n.agent)
	if _, err := n.cli.Put(t.Context(), state.TokenKey, "s3cret"); err != nil {
		t.Fatal(err)
	}
	n.put(state.Instance{
		ID: "vol-1", App: "vol", Generation: 1, Image: n.image, Kind: state.Thin,
		Volume:  &state.Volume{SizeBytes: 8 << 20, Mount: "/export"},
		Command: []string{"/bin/sh", "-c", "echo kept > /export/f; exec sleep 1000"},
	})
	n.waitStatus("vol-1", "running", running)
	if got := volumes(t, url); len(got) != 1 || got[0] != (agent.VolumeInfo{ID: "vol-1", Backend: "loop", SizeBytes: 8 << 20, Mounted: true, InUse: true}) {
		t.Errorf("volumes while running: %+v", got)
	}
	for _, c := range []struct {
		path, tok string
		want      int
	}{
		{"/v1/volumes/vol-1", "s3cret", 409},
		{"/v1/volumes/vol-1", "", 401},
		{"/v1/volumes/none-such", "s3cret", 404},
		{"/v1/volumes/Bad_Id", "s3cret", 400},
	} {
		if code, body := api(t, "DELETE", url+c.path, c.tok, ""); code != c.want {
			t.Errorf("DELETE %s: %d %q, want %d", c.path, code, body, c.want)
		}
	}
	if code, _ := api(t, "GET", url+"/v1/volumes", "", ""); code != 401 {
		t.Errorf("GET /v1/volumes without a token: %d, want 401", code)
	}

	if _, err := n.cli.Delete(t.Context(), state.DesiredKey("n1", "vol-1")); err != nil {
		t.Fatal(err)
	}
	waitGone(t, n, "vol-1")
	img := filepath.Join(n.cfg.VolumeDir, "vol-1", "disk.img")
	if got := volumes(t, url); len(got) != 1 || got[0].Mounted || got[0].InUse {
		t.Errorf("volumes after the instance's deletion: %+v, want vol-1 kept, unmounted, unused", got)
	}
	if _, err := os.Stat(img); err != nil {
		t.Fatalf("the volume's file went with its instance: %v", err)
	}
	if code, body := api(t, "DELETE", url+"/v1/volumes/vol-1", "s3cret", ""); code != 204 {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if got := volumes(t, url); len(got) != 0 {
		t.Errorf("volumes after DELETE: %+v", got)
	}
	if _, err := os.Stat(filepath.Dir(img)); !os.IsNotExist(err) {
		t.Errorf("volume dir left: %v", err)
	}
	if kinds := n.events(""); !contains(kinds, "VolumeRemoved") {
		t.Errorf("no VolumeRemoved event: %v", kinds)
	}
}

// TestVolumesLVM: with a volume group (here on a loop device), volumes are
// logical volumes. A kernel without device-mapper (this CI's VM) cannot
// activate one: the instance then fails naming the volume, and nothing is
// left — no logical volume, no record; with device-mapper the volume is
// made, listed as lvm, kept after the instance and removed by the API.
func TestVolumesLVM(t *testing.T) {
	testenv.Require(t, testenv.Root)
	for _, cmd := range []string{"vgcreate", "lvcreate", "losetup"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Fatalf("%s not found (Debian package lvm2, in internal/testenv/debian-packages.txt)", cmd)
		}
	}
	n := newNode(t)
	vg := fmt.Sprintf("shoaltest%d", time.Now().UnixNano()%1e9)
	file := filepath.Join(t.TempDir(), "pv.img")
	sh(t, "truncate", "-s", "64M", file)
	loop := strings.TrimSpace(sh(t, "losetup", "-f", "--show", file))
	t.Cleanup(func() {
		_ = exec.Command("vgremove", "-q", "-f", vg).Run()
		_ = exec.Command("pvremove", "-q", "-f", loop).Run()
		_ = exec.Command("losetup", "-d", loop).Run()
	})
	sh(t, "pvcreate", "-q", loop)
	sh(t, "vgcreate", "-q", vg, loop)
	n.cfg.VolumeGroup = vg
	n.startAgent()
	url := serve(t, n.agent)
	if _, err := n.cli.Put(t.Context(), state.TokenKey, "s3cret"); err != nil {
		t.Fatal(err)
	}
	n.put(state.Instance{
		ID: "lv-1", App: "vol", Generation: 1, Image: n.image, Kind: state.Thin,
		Volume:  &state.Volume{SizeBytes: 8 << 20, Mount: "/export"},
		Command: []string{"/bin/sh", "-c", "echo kept > /export/f; exec sleep 1000"},
	})
	st := n.waitStatus("lv-1", "running or failed", func(st state.Status) bool { return running(st) || st.Phase == state.Failed })
	lvs := strings.TrimSpace(sh(t, "lvs", "--noheadings", "-o", "lv_name", vg))
	if !deviceMapper() {
		t.Logf("no device-mapper in this kernel: the volume group exists but cannot activate a volume")
		if st.Phase != state.Failed || st.Reason != "VolumeFailed" || st.Field != "volume.size_bytes" || !strings.Contains(st.Message, "lvcreate") {
			t.Errorf("status %+v, want Failed VolumeFailed on volume.size_bytes from lvcreate", st)
		}
		if lvs != "" {
			t.Errorf("logical volumes left: %q", lvs)
		}
		if got := volumes(t, url); len(got) != 0 {
			t.Errorf("volume records left: %+v", got)
		}
		return
	}
	if !running(st) || lvs != "shoal-lv-1" {
		t.Fatalf("status %+v, logical volumes %q; want running on shoal-lv-1", st, lvs)
	}
	if got := volumes(t, url); len(got) != 1 || got[0].Backend != "lvm" || got[0].LV != vg+"/shoal-lv-1" {
		t.Errorf("volumes: %+v", got)
	}
	if _, err := n.cli.Delete(t.Context(), state.DesiredKey("n1", "lv-1")); err != nil {
		t.Fatal(err)
	}
	waitGone(t, n, "lv-1")
	if code, body := api(t, "DELETE", url+"/v1/volumes/lv-1", "s3cret", ""); code != 204 {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if lvs := strings.TrimSpace(sh(t, "lvs", "--noheadings", "-o", "lv_name", vg)); lvs != "" {
		t.Errorf("logical volume left after DELETE: %q", lvs)
	}
}

// deviceMapper reports whether the kernel has device-mapper.
func deviceMapper() bool {
	b, _ := os.ReadFile("/proc/misc")
	return strings.Contains(string(b), "device-mapper")
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr // lvm's warnings (leaked descriptors) stay out of the output
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}
