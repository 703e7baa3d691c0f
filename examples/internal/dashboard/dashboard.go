package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// Prefix is where Handler expects to be mounted: it serves the dashboard
// at Prefix and its files below it.
const Prefix = "/ui/"

//go:embed static
var static embed.FS

// contentSecurityPolicy lets the page load only its own files and talk only
// to its own origin (the controller's API): nothing comes from elsewhere,
// and no inline script runs.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the dashboard's embedded files under Prefix, on the same
// origin as the controller's API, which the page calls with the token it
// was opened with (/ui/#token=TOKEN; the fragment never reaches a server).
// The files need no token: the data does. Only GET and HEAD are served; a
// path outside Prefix, or of no file, is 404.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// The files change with the binary: always revalidate.
		h.Set("Cache-Control", "no-cache")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "dashboard: method "+r.Method+" not allowed", http.StatusMethodNotAllowed)
			return
		}
		name, ok := fileName(r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeFileFS(w, r, static, "static/"+name)
	})
}

// fileName maps a request path to an embedded file: Prefix is index.html,
// a directory or a path outside Prefix is no file.
func fileName(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, Prefix)
	if !ok {
		return "", false
	}
	if rest == "" {
		return "index.html", true
	}
	clean := path.Clean(rest)
	if clean != rest || !fs.ValidPath(clean) || strings.HasSuffix(p, "/") {
		return "", false
	}
	info, err := fs.Stat(static, "static/"+clean)
	if err != nil || info.IsDir() {
		return "", false
	}
	return clean, true
}
