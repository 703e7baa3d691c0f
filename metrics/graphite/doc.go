// Package graphite sends metrics snapshots to Graphite (carbon) over TCP in
// the plaintext protocol, as dotted paths or as tagged series, the way
// iQIYI's dAdvisor fed Graphite from its own collector.
//
//	w, err := graphite.New(graphite.Config{Addr: "carbon:2003", Tagged: true})
//	if err != nil { ... }
//	go w.Run(ctx)                                            // dials, batches, reconnects
//	c, err := metrics.New(ctx, metrics.Config{Sinks: []metrics.Sink{w}})
//	go c.Run(ctx)
//
// Observe (the metrics.Sink method) only turns a snapshot into points and
// queues them: it never waits for the network, so a carbon server that is
// down or slow never holds sampling up. The queue is bounded (QueueSize
// points); points that do not fit are dropped and counted, never lost
// silently: Stats tells how many, and the writer sends its own counts as
// points (<prefix>.<node>.graphite.{sent,dropped,queued,reconnects}).
// Run writes batches with a write deadline and, when the connection fails,
// dials again with exponential backoff; a batch is removed from the queue
// only once written, so a failure resends it (carbon keeps one value per
// timestamp, so a resent point changes nothing).
//
// Paths (Tagged false) are
//
//	<prefix>.<node>.node.<metric>
//	<prefix>.<node>.containers.<app>.<id>.<metric>
//
// and tagged series are "container.<metric>;app=…;id=…;node=…" and
// "node.<metric>;node=…", tags sorted as carbon stores them. Path segments
// and tag values are cleaned to [A-Za-z0-9_-].
package graphite
