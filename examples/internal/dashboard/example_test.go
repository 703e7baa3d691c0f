package dashboard_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/shoalkit/shoal/examples/internal/dashboard"
)

// Mount the dashboard beside an API on one server (here a stand-in for
// the controller's Handler) and fetch its page.
func Example() {
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	})
	mux := http.NewServeMux()
	mux.Handle(dashboard.Prefix, dashboard.Handler())
	mux.Handle("/", api)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/ui/")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"), len(body) > 0)
	// Output: 200 text/html; charset=utf-8 true
}
