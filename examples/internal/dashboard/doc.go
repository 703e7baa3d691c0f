// Package dashboard is the platform's web dashboard: a page people would
// rather look at than read, over the controller's API. It shows the cluster
// overview (nodes by rack and switch with allocated against capacity, live,
// cordoned, and "data report timed out" when a node's agent stopped
// reporting; simulated nodes labelled SIMULATED wherever they appear; the
// apps with ready against replicas and their rollout), the most allocated
// nodes, an app's instances and live endpoints, an instance's desired and
// reported state, a node's instances, and the message-tracking list, live,
// filtered by request id, instance, app or node (a request id anywhere is a
// link to its events).
//
// The page is plain HTML, CSS and ES modules embedded in the binary (no
// build step, nothing fetched from elsewhere: its Content-Security-Policy
// allows only its own origin). It calls the API on its own origin, so it is
// mounted on the controller's server beside the API:
//
//	mux := http.NewServeMux()
//	mux.Handle(dashboard.Prefix, dashboard.Handler()) // "/ui/"
//	mux.Handle("/", c.Handler())                      // the controller's API
//	http.Serve(l, mux)
//
// and opened as https://controller:7000/ui/#token=TOKEN. The token travels
// in the URL fragment, which browsers never send to a server; the page moves
// it to the tab's sessionStorage and out of the address bar and history,
// and sends it as "Authorization: Bearer" on every call. Without a token, or
// when the controller refuses it (401), the page shows a screen that says
// so and nothing else.
//
// Live updates come from the API's server-sent event streams
// (/v1/events/stream, /v1/apps/NAME/endpoints?watch=1), read with fetch and
// a stream reader because EventSource cannot send the Authorization header;
// every new event refreshes the view on screen, and the page looks again
// every 5 s for what changes without an event (a node's lease running out).
package dashboard
