package testenv

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRegistry uploads a blob to a real registry with the distribution API
// and reads it back by digest, then again after a restart on the same
// storage.
func TestRegistry(t *testing.T) {
	r := StartRegistry(t)
	if !strings.HasPrefix(r.Addr, "127.0.0.1:") {
		t.Fatalf("registry address %q is not loopback", r.Addr)
	}
	blob := []byte("shoal testenv blob\n")
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256(blob))

	resp := do(t, http.MethodPost, r.URL+"/v2/shoal/test/blobs/uploads/", nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = r.URL + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	if resp := do(t, http.MethodPut, loc+sep+"digest="+digest, blob); resp.StatusCode != http.StatusCreated {
		t.Fatalf("finish upload: %s", resp.Status)
	}

	check := func() {
		t.Helper()
		resp := do(t, http.MethodGet, r.URL+"/v2/shoal/test/blobs/"+digest, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("get blob: %s", resp.Status)
		}
		if got := resp.Header.Get("Docker-Content-Digest"); got != digest {
			t.Errorf("digest header %q, want %q", got, digest)
		}
	}
	check()
	old := r.Pid()
	r.Restart(t)
	if r.Pid() == old {
		t.Fatal("restart kept the same pid")
	}
	check()
}

// reply is what TestRegistry needs of a response.
type reply struct {
	StatusCode int
	Status     string
	Header     http.Header
}

// do sends one request and returns the status and headers of the response,
// whose body it drains and closes.
func do(t *testing.T, method, url string, body []byte) reply {
	t.Helper()
	return doWith(t, http.DefaultClient, method, url, body)
}

// doWith is do through client c.
func doWith(t *testing.T, c *http.Client, method, url string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return reply{StatusCode: resp.StatusCode, Status: resp.Status, Header: resp.Header}
}
