package dashboard

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	h := Handler()
	tests := []struct {
		method, path string
		status       int
		ctype        string
		body         string // a substring of the answer
	}{
		{"GET", "/ui/", 200, "text/html; charset=utf-8", `<script type="module" src="js/app.js">`},
		{"HEAD", "/ui/", 200, "text/html; charset=utf-8", ""},
		{"GET", "/ui/js/app.js", 200, "text/javascript; charset=utf-8", "import"},
		{"GET", "/ui/js/api.js", 200, "text/javascript; charset=utf-8", "class SSEParser"},
		{"GET", "/ui/style.css", 200, "text/css; charset=utf-8", ":root"},
		{"GET", "/ui/index.html", 301, "", ""}, // to /ui/, as http.ServeFile does
		{"GET", "/ui/js/", 404, "", ""},
		{"GET", "/ui/js", 404, "", ""},
		{"GET", "/ui/nope.js", 404, "", ""},
		{"GET", "/ui/../go.mod", 404, "", ""},
		{"GET", "/ui/js/../style.css", 404, "", ""},
		{"GET", "/ui//style.css", 404, "", ""},
		{"GET", "/static/style.css", 404, "", ""},
		{"GET", "/", 404, "", ""},
		{"POST", "/ui/", 405, "", "method POST not allowed"},
		{"DELETE", "/ui/style.css", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://x"+tt.path, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if tt.ctype != "" && rec.Header().Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type %q, want %q", rec.Header().Get("Content-Type"), tt.ctype)
			}
			if !strings.Contains(rec.Body.String(), tt.body) {
				t.Errorf("body lacks %q", tt.body)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") || !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("no nosniff")
			}
			if tt.status == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", rec.Header().Get("Allow"))
			}
		})
	}
}

// Every embedded file is served, whole, at its path under Prefix, and
// nothing in them points at another origin.
func TestEveryFileServed(t *testing.T) {
	h := Handler()
	n := 0
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		want, _ := fs.ReadFile(static, p)
		for _, s := range []string{"http://", "https://", "//cdn", "eval("} {
			if strings.Contains(string(uncommented(p, want)), s) {
				t.Errorf("%s holds %q: the page must load nothing from elsewhere", p, s)
			}
		}
		rel := strings.TrimPrefix(p, "static/")
		if rel == "index.html" {
			rel = ""
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://x"+Prefix+rel, nil))
		got, _ := io.ReadAll(rec.Result().Body)
		if rec.Code != http.StatusOK || string(got) != string(want) {
			t.Errorf("%s: status %d, %d bytes, want 200 and %d bytes", p, rec.Code, len(got), len(want))
		}
		return nil
	})
	if err != nil || n < 11 {
		t.Fatalf("walked %d files: %v", n, err)
	}
}

// The request path is outside input: whatever it is, the handler answers
// 200 with an embedded file or 301, 404, 405, and never panics.
func FuzzHandler(f *testing.F) {
	for _, s := range []string{"/ui/", "/ui/js/app.js", "/ui/../x", "/ui/%2e%2e/", "/ui/js//api.js", "/ui/\x00", "/x"} {
		f.Add(s)
	}
	h := Handler()
	f.Fuzz(func(t *testing.T, p string) {
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		req := httptest.NewRequest(http.MethodGet, "http://x/", nil)
		req.URL.Path = p
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			name, ok := fileName(p)
			if !ok {
				t.Fatalf("%q served without a file name", p)
			}
			want, err := fs.ReadFile(static, "static/"+name)
			if err != nil || rec.Body.String() != string(want) {
				t.Fatalf("%q: served something other than static/%s", p, name)
			}
		case 301, 404:
		default:
			t.Fatalf("%q: status %d", p, rec.Code)
		}
	})
}

// uncommented is a file without its comment lines when it is vendored
// (uPlot's source cites its sources by URL in comments), an SVG without
// its namespace (a name, not a load), else the file.
func uncommented(name string, b []byte) []byte {
	if strings.HasSuffix(name, ".svg") {
		return []byte(strings.ReplaceAll(string(b), `xmlns="http://www.w3.org/2000/svg"`, ""))
	}
	if !strings.HasPrefix(name, "static/vendor/") {
		return b
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "//") || strings.HasPrefix(l, "*") || strings.HasPrefix(l, "/*") {
			continue
		}
		out = append(out, line)
	}
	return []byte(strings.Join(out, ""))
}

// The vendored uPlot is its npm package's dist files as published
// (uplot@1.6.32 from registry.npmjs.org), unchanged, with its licence.
func TestVendoredUPlot(t *testing.T) {
	for name, sum := range map[string]string{
		"static/vendor/uplot/uPlot.esm.js":  "5dd9b3281aa64b461b42d9945f6adb2649d346502b12281a9ae0d46599a80eba",
		"static/vendor/uplot/uPlot.min.css": "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
	} {
		b, err := fs.ReadFile(static, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(b)); got != sum {
			t.Errorf("%s: sha256 %s, want %s (uplot 1.6.32 as published)", name, got, sum)
		}
	}
	lic, err := fs.ReadFile(static, "static/vendor/uplot/LICENSE")
	if err != nil || !strings.Contains(string(lic), "MIT") || !strings.Contains(string(lic), "Leon Sorokin") {
		t.Errorf("uPlot's LICENSE: %v %.80q", err, lic)
	}
}
