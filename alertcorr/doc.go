// Package alertcorr turns an alert storm into incidents with their root,
// on top of Alertmanager's semantics so that teams can move over.
//
// The base is Alertmanager's, re-expressed (its dispatch, inhibit and
// silence tests are among ours): alerts are identified by their label set
// (a fingerprint) and deduplicated; an alert without an end time resolves
// after the resolve timeout unless sent again; a routing tree with matchers
// and continue sends each alert to receivers; aggregation groups
// (group_by) are notified after group_wait, then every group_interval when
// they change, and again after repeat_interval; inhibit rules with equal
// labels mute targets while a source fires (a missing label is the empty
// value; an alert matching both sides is not muted by a source that does
// too); silences mute what their matchers match while active.
//
// With a Topology (datacenter → room → rack / switch → host → container,
// and app → containers) the engine correlates instead of passing alerts
// through: after a window, the alerts that fire are grouped by the entity
// that explains them best — an app whose containers alert on many hosts,
// a host whose containers alert or which alerts itself, a switch or rack
// whose hosts are unreachable — even a root that never alerted. Each
// incident carries its evidence (the rule, the counts, the runner-up), its
// members, and is routed, grouped, silenced and notified as an alert named
// "Incident" with labels incident, root and root_kind. The result depends
// only on the set of alerts, not on their arrival order. Late alerts join
// the open incident; when a root that alerted resolves, its members
// resolve with it.
//
//	tp := alertcorr.NewTopology()
//	_ = tp.Upsert(alertcorr.Entity{Kind: alertcorr.KindHost, ID: "h1"})
//	_ = tp.Upsert(alertcorr.Entity{Kind: alertcorr.KindApp, ID: "shop"})
//	_ = tp.Upsert(alertcorr.Entity{Kind: alertcorr.KindContainer, ID: "c1", Parent: "h1", App: "shop"})
//	e, err := alertcorr.New(alertcorr.Config{Topology: tp, Notifier: notifier})
//	...
//	_ = e.Ingest(alertcorr.Alert{Labels: alertcorr.Labels{"alertname": "HostDown", "host": "h1"}})
//	go e.Run(ctx) // correlates, flushes groups, notifies, snapshots
//
// Time moves only through Advance (Run calls it every Config.Tick with
// Config.Now), so tests step an injected clock through group_wait and
// the correlation window exactly.
//
// Input is the Go API (Ingest), Alertmanager's HTTP API (Handler serves
// POST /api/v2/alerts, so Prometheus sends to it unchanged; GET
// /api/v2/alerts and v2 silences in Alertmanager's form, so amtool reads
// and silences) and Alertmanager webhook payloads. Output goes to a
// Notifier: Webhook posts Alertmanager's webhook JSON, Alertmanager
// forwards the incidents as alerts to an existing Alertmanager, Receivers
// picks one by route receiver, FanOut gives each destination its own
// bounded queue so a slow one holds up no other. An incident's alert
// carries its members' common labels (team, and the highest severity), so
// existing routes keep working.
//
// Configuration can come unchanged from an Alertmanager file:
// ParseAlertmanagerConfig reads alertmanager.yml (route tree, inhibit
// rules, webhook receivers) and lists what it does not act on.
//
// Correlation is incremental: a round solves again only the components of
// the correlation input that the alerts which came, went or changed can
// reach (their host, the apps on it, the places above it), and keeps the
// rest; the result is the full solve's, which a property test checks on
// random storms. Topology.Sync replaces a topology from a source
// atomically, applying only the difference.
//
// With Config.SnapshotPath (a file) or Config.Snapshot (any
// SnapshotStore, etcd in the platform) the silences, the notification
// log, the alerts and the open incidents are saved — at once after a
// notification or a silence, otherwise at most every SnapshotInterval,
// within MaxSnapshotBytes — and read back by Open: a restarted engine
// neither forgets a silence nor notifies twice. Bad input — malformed
// payloads, unknown entities, clocks ahead, duplicate floods — is refused
// or absorbed and counted in Stats.
//
// The subpackages: storm generates storms with their truth and scores
// incidents against it; predict scores health and predicts leaks and
// traffic anomalies from time series (Prometheus query_range included);
// alertcorrtest holds the conformance suites for TopologySource and
// Notifier.
//
// # Not yet
//
// Finding what changed between two correlation rounds still visits every
// alert held (a few map lookups each); only the solving is incremental.
// The platform's topology source (etcd) and the daemon live in examples/.
package alertcorr
