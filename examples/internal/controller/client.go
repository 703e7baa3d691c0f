package controller

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Client calls a controller's API: shoalctl, the pilot and tests use it.
type Client struct {
	// URL is the controller's base URL, "http://127.0.0.1:7000".
	URL string
	// Token is the cluster's bearer token.
	Token string
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP *http.Client
}

// ProblemError is a Problem the API answered.
type ProblemError struct{ Problem }

func (e *ProblemError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s (%d %s, field %s, request %s)", e.Detail, e.Status, e.Code, e.Field, e.RequestID)
	}
	return fmt.Sprintf("%s (%d %s, request %s)", e.Detail, e.Status, e.Code, e.RequestID)
}

func (cl *Client) http() *http.Client {
	if cl.HTTP != nil {
		return cl.HTTP
	}
	return http.DefaultClient
}

func (cl *Client) request(ctx context.Context, base, method, path, requestID string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+cl.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if requestID != "" {
		req.Header.Set("X-Request-Id", requestID)
	}
	return cl.http().Do(req)
}

// Do sends one call and decodes a successful answer into out (when not
// nil). A change sent to a follower is sent once more to the leader it
// names. It returns the answer's request id.
func (cl *Client) Do(ctx context.Context, method, path, requestID string, body, out any) (string, error) {
	base := cl.URL
	for attempt := 0; ; attempt++ {
		resp, err := cl.request(ctx, base, method, path, requestID, body)
		if err != nil {
			return "", err
		}
		id := resp.Header.Get("X-Request-Id")
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return id, err
		}
		if resp.StatusCode >= 300 {
			var p ProblemError
			if json.Unmarshal(raw, &p.Problem) != nil || p.Code == "" {
				return id, fmt.Errorf("%s %s: %s: %.200s", method, path, resp.Status, raw)
			}
			if p.Code == CodeNotLeader && p.Leader != "" && attempt == 0 {
				base = "http://" + p.Leader
				if strings.HasPrefix(cl.URL, "https://") {
					base = "https://" + p.Leader
				}
				continue
			}
			return id, &p
		}
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				return id, fmt.Errorf("%s %s: %w", method, path, err)
			}
		}
		return id, nil
	}
}

// Stream follows a server-sent event stream, calling fn with each event's
// name and data until fn returns false, the stream ends or ctx does.
func (cl *Client) Stream(ctx context.Context, path string, fn func(event string, data []byte) bool) error {
	resp, err := cl.request(ctx, cl.URL, http.MethodGet, path, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var p ProblemError
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(raw, &p.Problem) == nil && p.Code != "" {
			return &p
		}
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if !fn(event, []byte(strings.TrimPrefix(line, "data: "))) {
				return nil
			}
		}
	}
	if ctx.Err() != nil {
		return nil //nolint:nilerr // the caller ended the stream
	}
	return sc.Err()
}
