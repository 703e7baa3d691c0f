package agent_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/examples/internal/agent"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// api calls the agent's HTTP API with the cluster token tok ("" sends none).
func api(t *testing.T, method, url, tok, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSnapshot is a cold migration on one node: an instance writes a file
// into its root, deletes one of the image's and writes to its data volume;
// its snapshot (with the volume) is pushed to the registry; a fresh
// instance made from the pushed image, with a new volume, sees the file,
// not the deleted one, and the volume's data.
func TestSnapshot(t *testing.T) {
	n := newNode(t)
	n.startAgent()
	url := serve(t, n.agent)
	if _, err := n.cli.Put(t.Context(), state.TokenKey, "s3cret"); err != nil {
		t.Fatal(err)
	}
	vol := &state.Volume{SizeBytes: 16 << 20, Mount: "/export"}
	n.put(state.Instance{
		ID: "orig-1", App: "snap", Generation: 1, RequestID: "req-orig", Image: n.image, Kind: state.Thin,
		WritableRoot: true, Volume: vol,
		Command: []string{"/bin/sh", "-c", "echo hello > /root/new && rm /bin/vi && mkdir /export/app && echo data > /export/app/d && echo ready; exec sleep 1000"},
	})
	n.waitStatus("orig-1", "running", running)
	waitFile(t, n.cfg.Runtime.LogPath("orig-1"), "ready\n")

	snapRef := strings.Replace(n.image, "/busybox:1", "/snap:1", 1)
	path := url + "/v1/instances/orig-1/snapshot"
	req := `{"image": "` + snapRef + `", "volume": true}`
	if code, _ := api(t, "POST", path, "", req); code != http.StatusUnauthorized {
		t.Errorf("snapshot without a token: %d, want 401", code)
	}
	for _, c := range []struct {
		path, body string
		want       int
	}{
		{url + "/v1/instances/Bad_Id/snapshot", req, 400},
		{path, `{"image": "no spaces allowed"}`, 400},
		{path, `{"image": ""}`, 400},
		{path, `not json`, 400},
		{url + "/v1/instances/none-such/snapshot", req, 404},
	} {
		if code, body := api(t, "POST", c.path, "s3cret", c.body); code != c.want {
			t.Errorf("POST %s %s: %d %q, want %d", c.path, c.body, code, body, c.want)
		}
	}
	code, body := api(t, "POST", path, "s3cret", req)
	if code != http.StatusOK {
		t.Fatalf("snapshot: %d %s", code, body)
	}
	var res agent.SnapshotResult
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	if res.Image != snapRef || !strings.HasPrefix(res.Digest, "sha256:") || res.Layer.Files == 0 || res.VolumeLayer == nil || res.VolumeLayer.Files == 0 {
		t.Fatalf("snapshot result %+v", res)
	}
	// The original keeps running, thawed.
	if st, _ := n.status("orig-1"); !running(st) || st.Restarts != 0 {
		t.Errorf("orig-1 after its snapshot: %+v", st)
	}
	if !alive(n.waitStatus("orig-1", "running", running).PID) {
		t.Error("orig-1 died")
	}

	n.put(state.Instance{
		ID: "copy-1", App: "snap", Generation: 1, RequestID: "req-copy", Image: snapRef + "@" + res.Digest, Kind: state.Thin,
		Volume: vol,
		Command: []string{"/bin/sh", "-c", "cat /root/new; if [ -e /bin/vi ]; then echo vi=present; else echo vi=absent; fi; " +
			"cat /export/app/d; exec sleep 1000"},
	})
	n.waitStatus("copy-1", "running", running)
	waitFile(t, n.cfg.Runtime.LogPath("copy-1"), "hello\nvi=absent\ndata\n")
	if kinds := n.events("req-orig"); !contains(kinds, "Snapshotted") {
		t.Errorf("events of req-orig: %v, want Snapshotted", kinds)
	}
	if _, err := os.Stat(n.cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(n.cfg.StateDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".snapshot-") {
			t.Errorf("snapshot work dir %s left behind", e.Name())
		}
	}
}
