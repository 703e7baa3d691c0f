// Package dashboard is the platform's web dashboard: a page people would
// rather look at than read, over the controller's API. Its views, each at
// its own address under /ui/#/:
//
//   - Overview (#/): tiles (nodes live, reports timed out, cordoned, apps,
//     instances ready, CPUs allocated, and, read after the page is drawn,
//     open incidents and members in trouble in the last inspection round,
//     each a link to its page); the map of racks and switches,
//     their nodes and each node's containers as small squares coloured by
//     health (green running and ready, amber not ready, blue on its way,
//     red failed or crash loop, grey stopped; a node's border red when its
//     report timed out or a container failed, amber when cordoned, draining
//     or 90% allocated). Up to 47 nodes each node is a card with its CPU and
//     memory allocated; from 48 on each is a compact square and the map has
//     pages of 240 nodes, a filter by node or rack and "only nodes in
//     trouble", so a thousand nodes stay usable. The nodes are drawn first
//     and their containers when the instance list lands. Then the apps with
//     ready against replicas and their rollout, and the most allocated nodes.
//     Simulated nodes are labelled SIMULATED wherever they appear.
//   - App (#/apps/NAME): its spec; its replicas, ready instances, CPU cores
//     (and requests per second when it has a TPS metric) over the
//     controller's history window, drawn with uPlot, with every scaling
//     decision marked where it happened (AppScaled, AutoScaled,
//     ScaleApproved, ScaleProposed, ScaleFailed, AutoscaleHeld; its title
//     says why) and listed below with its reason and request (a hold only
//     when it is the latest); the autoscaler's waiting proposal with an
//     Approve button (confirmed first); its live endpoints, instances and
//     recent events.
//   - Instance (#/instances/ID): desired and reported state, and its states
//     over time: a band of the states its events and status record
//     (Scheduled, Creating, Running, Restarting, Failed, …) with the other
//     events as ticks, and the transitions listed with their reasons.
//   - Node (#/nodes/NAME): its report, meters and containers, its
//     instances and events, and Cordon, Drain and Uncordon, each confirmed
//     in a dialog that says what it does.
//   - Incidents (#/incidents): alertcorr's open incidents (through the
//     controller's /v1/incidents), each with its root entity, the rule that
//     chose it, its severity, its member alerts and its evidence in words;
//     and the resolved ones with why. Looked at again every 3 s.
//   - Inspection (#/inspection): the last inspection round: counts by
//     status, the inspector's own health, the members that did not pass
//     (or all) with their failed checks and details, the last fix's
//     outcome, and Dry run / Fix of the failed checks on the picked nodes
//     (or every failed one), confirmed first.
//   - Ranking (#/ranking?by=cpu|memory&n=N): the busiest and idlest nodes,
//     apps and instances over the last measurement, against their limits.
//   - Usage (#/usage): each team's quota against what its apps hold, and
//     showback: core-hours and GiB-hours allocated and used per team and
//     app, and the share used.
//   - Message tracking (#/events): the event list, live, filtered by request
//     id, instance, app or node (a request id anywhere is a link to its
//     events).
//
// The page is plain HTML, CSS and ES modules embedded in the binary (no
// build step, nothing fetched from elsewhere: its Content-Security-Policy
// allows only its own origin). The one library is uPlot 1.6.32 (MIT), its
// npm package's dist/uPlot.esm.js and dist/uPlot.min.css as published on
// registry.npmjs.org (package uplot), unchanged, in static/vendor/uplot/
// beside its LICENSE; a test pins their SHA-256. It is loaded with the
// first app page, not with the overview.
//
// It calls the API on its own origin, so it is mounted on the controller's
// server beside the API:
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
// every new event refreshes the view on screen (never sooner than twice the
// time its last load took, so a big cluster is not reloaded faster than it
// answers), and the page looks again every 5 s for what changes without an
// event (a node's lease running out, a measurement, an inspection round).
// Each view marks when it first drew its data (performance.mark
// "shoal:drawn"; the overview's containers "shoal:containers"), which the
// benchmark reads.
package dashboard
