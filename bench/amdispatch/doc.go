// Package amdispatch runs Alertmanager's own dispatcher, inhibitor and
// alert store (v0.28.1, in-process) on the storms alertcorr is measured
// on, so the two can be compared on the same stream: ingest rate, and what
// a person is told — notifications, with Alertmanager given its best
// hand-written group_by and inhibit rules. It is a module of its own so
// the SDK never requires Alertmanager's dependencies.
package amdispatch
