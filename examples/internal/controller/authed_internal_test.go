package controller

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAuthedAnswerStarted: a handler that fails after it began its answer
// (a stream cut, a client gone) leaves the answer as it was: no second
// status line, no problem document glued to the body. And an empty list
// is answered [], not null.
func TestAuthedAnswerStarted(t *testing.T) {
	c := &Controller{log: slog.New(slog.NewTextHandler(io.Discard, nil)), cache: &cache{token: "tok"}}
	tests := []struct {
		name       string
		handler    func(w http.ResponseWriter, r *http.Request) error
		wantStatus int
		wantBody   string
	}{
		{"error before the answer", func(http.ResponseWriter, *http.Request) error {
			return newError(ErrNotFound, "app %q", "x")
		}, http.StatusNotFound, `"code":"not_found"`},
		{"an empty list is []", func(w http.ResponseWriter, _ *http.Request) error {
			var apps []AppView
			return writeJSON(w, http.StatusOK, apps)
		}, http.StatusOK, "[]\n"},
		{"a list", func(w http.ResponseWriter, _ *http.Request) error {
			return writeJSON(w, http.StatusOK, []string{"a"})
		}, http.StatusOK, "[\"a\"]\n"},
		{"error after the answer", func(w http.ResponseWriter, _ *http.Request) error {
			_ = writeJSON(w, http.StatusOK, map[string]int{"n": 1})
			return errors.New("client went away")
		}, http.StatusOK, "{\"n\":1}\n"},
		{"error after a stream began", func(w http.ResponseWriter, _ *http.Request) error {
			fl, err := sse(w)
			if err != nil {
				return err
			}
			_ = writeEvent(w, fl, "event", 1)
			return errors.New("stream cut")
		}, http.StatusOK, "event: event\ndata: 1\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/v1/x", nil)
			req.Header.Set("Authorization", "Bearer tok")
			c.authed(tt.handler).ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			body := rec.Body.String()
			if tt.wantStatus == http.StatusOK && body != tt.wantBody {
				t.Errorf("body %q, want exactly %q", body, tt.wantBody)
			}
			if !strings.Contains(body, tt.wantBody) {
				t.Errorf("body %q, want %q in it", body, tt.wantBody)
			}
		})
	}
}
