package fleetinspect

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/inspect"
)

// The keys of inspection, under state.Prefix.
const (
	SpecKey      = state.Prefix + "inspect/spec"
	ReportKey    = state.Prefix + "inspect/report"
	FixKey       = state.Prefix + "inspect/fix"
	FixResultKey = state.Prefix + "inspect/fix-result"
	GossipPrefix = state.Prefix + "inspect/gossip/"
)

// Bounds on what is stored: etcd refuses requests over 1.5 MiB, and a
// reader must not be made to hold more.
const (
	// MaxSpecBytes is the largest spec stored or read.
	MaxSpecBytes = state.MaxValueBytes
	// MaxReportBytes is the largest report stored: a larger one keeps its
	// counts and the members that did not pass, and drops details, then
	// the lines of members that did not pass, until it fits (Truncated).
	MaxReportBytes = state.MaxValueBytes
	// maxFixOrderBytes bounds a fix order.
	maxFixOrderBytes = 64 << 10
	// maxGossipMembers bounds the gossip addresses read to join.
	maxGossipMembers = 1024
)

// GossipKey is where node registers its gossip address.
func GossipKey(node string) string { return GossipPrefix + node }

// PutSpec stores spec as the desired state, for the controller (the
// config center). The spec must validate and be at most MaxSpecBytes, and
// its version must be above the stored one (the same version with the
// same content is a no-op); a concurrent writer makes it ErrConflict.
func PutSpec(ctx context.Context, cli *clientv3.Client, spec *inspect.Spec) error {
	if spec == nil {
		return newError(ErrInvalid, "nil spec")
	}
	if err := spec.Validate(); err != nil {
		return wrapError(ErrInvalid, err, "spec")
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return wrapError(ErrInvalid, err, "encode spec version %d", spec.Version)
	}
	if len(b) > MaxSpecBytes {
		return newError(ErrInvalid, "spec version %d is %d bytes, more than %d", spec.Version, len(b), MaxSpecBytes)
	}
	held, rev, err := GetSpec(ctx, cli)
	switch {
	case err == nil && held.Version == spec.Version && held.Hash() == spec.Hash():
		return nil
	case err == nil && spec.Version <= held.Version:
		return newError(ErrConflict, "spec version %d does not follow the stored version %d", spec.Version, held.Version)
	case err != nil && !isNotFound(err):
		return err
	}
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(SpecKey), "=", rev)).
		Then(clientv3.OpPut(SpecKey, string(b))).Commit()
	if err != nil {
		return wrapError(ErrUnavailable, err, "put %s", SpecKey)
	}
	if !resp.Succeeded {
		return newError(ErrConflict, "spec changed while version %d was written", spec.Version)
	}
	return nil
}

// GetSpec returns the stored spec and the revision it was written at
// (ErrNotFound when none).
func GetSpec(ctx context.Context, cli *clientv3.Client) (*inspect.Spec, int64, error) {
	resp, err := cli.Get(ctx, SpecKey)
	if err != nil {
		return nil, 0, wrapError(ErrUnavailable, err, "get %s", SpecKey)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, newError(ErrNotFound, "no spec at %s", SpecKey)
	}
	s, err := decodeSpec(resp.Kvs[0].Value)
	return s, resp.Kvs[0].ModRevision, err
}

func decodeSpec(b []byte) (*inspect.Spec, error) {
	if len(b) > MaxSpecBytes {
		return nil, newError(ErrInvalid, "stored spec of %d bytes, more than %d", len(b), MaxSpecBytes)
	}
	s, err := inspect.ParseSpec(b)
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "stored spec")
	}
	return s, nil
}

// Report is what the inspector stores: the last round, its stage two
// included, and the inspector's own health.
type Report struct {
	*inspect.Report
	// Written is when the report was stored.
	Written time.Time `json:"written"`
	// Truncated is true when details or member lines were dropped to fit
	// MaxReportBytes (Counts still count every member).
	Truncated bool `json:"truncated,omitempty"`
}

// encodeReport encodes rep within MaxReportBytes: details go first, then
// the lines of members that passed, then the rest, from the end.
func encodeReport(rep Report) ([]byte, error) {
	b, err := json.Marshal(rep)
	if err != nil || len(b) <= MaxReportBytes {
		return b, err
	}
	cut := *rep.Report
	cut.Members = nil
	for _, m := range rep.Members {
		m.Details = nil
		if m.Status != inspect.StatusPassed {
			cut.Members = append(cut.Members, m)
		}
	}
	rep.Report, rep.Truncated = &cut, true
	for {
		if b, err = json.Marshal(rep); err != nil || len(b) <= MaxReportBytes {
			return b, err
		}
		cut.Members = cut.Members[:len(cut.Members)*3/4]
	}
}

// StoreReport stores rep as the last report (ReportKey), within
// MaxReportBytes.
func StoreReport(ctx context.Context, cli *clientv3.Client, rep *inspect.Report) error {
	if rep == nil {
		return newError(ErrInvalid, "nil report")
	}
	b, err := encodeReport(Report{Report: rep, Written: time.Now()})
	if err != nil {
		return wrapError(ErrInvalid, err, "encode report")
	}
	if _, err := cli.Put(ctx, ReportKey, string(b)); err != nil {
		return wrapError(ErrUnavailable, err, "put %s", ReportKey)
	}
	return nil
}

// GetReport returns the last stored report (ErrNotFound when none).
func GetReport(ctx context.Context, cli *clientv3.Client) (*Report, error) {
	resp, err := cli.Get(ctx, ReportKey)
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "get %s", ReportKey)
	}
	if len(resp.Kvs) == 0 {
		return nil, newError(ErrNotFound, "no report at %s", ReportKey)
	}
	var rep Report
	if err := decodeJSON(resp.Kvs[0].Value, MaxReportBytes, &rep); err != nil {
		return nil, wrapError(ErrInvalid, err, "stored report")
	}
	if rep.Report == nil {
		return nil, newError(ErrInvalid, "stored report without a round")
	}
	return &rep, nil
}

// FixOrder asks the inspector to run the spec's fixes of failed checks on
// the members of its last report: the controller or shoalctl writes it,
// the inspector signs each fix request with its fix key and carries the
// order out once.
type FixOrder struct {
	// ID names the order (the request id of the API call that caused it).
	ID string `json:"id"`
	// Spec is the spec version the order is for; the last report must be
	// on it.
	Spec uint64 `json:"spec"`
	// Nodes limits the fixes to these members (empty: every failed one).
	Nodes []string `json:"nodes,omitempty"`
	// Checks limits the fixes to these check ids (empty: every failed
	// check with a fix).
	Checks []string `json:"checks,omitempty"`
	// DryRun asks the agents what they would do, and does nothing.
	DryRun bool `json:"dry_run,omitempty"`
	// MaxNodes is the most nodes fixed (default 10).
	MaxNodes int `json:"max_nodes,omitempty"`
}

// Validate checks the order's fields, naming the first that is wrong.
func (o *FixOrder) Validate() error {
	switch {
	case o.ID == "" || len(o.ID) > 128 || !printable(o.ID):
		return newError(ErrInvalid, "fix order id %q: want 1..128 printable characters", o.ID)
	case o.Spec == 0:
		return newError(ErrInvalid, "fix order %s: spec version 0", o.ID)
	case len(o.Nodes) > 1024 || len(o.Checks) > inspect.MaxChecks:
		return newError(ErrInvalid, "fix order %s: %d nodes, %d checks: at most 1024 and %d", o.ID, len(o.Nodes), len(o.Checks), inspect.MaxChecks)
	case o.MaxNodes < 0:
		return newError(ErrInvalid, "fix order %s: max_nodes %d", o.ID, o.MaxNodes)
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// FixResult is what the inspector did for an order.
type FixResult struct {
	ID           string                `json:"id"`
	Done         time.Time             `json:"done"`
	Error        string                `json:"error,omitempty"`
	Remediations []inspect.Remediation `json:"remediations,omitempty"`
}

// PutFixOrder stores an order for the inspector.
func PutFixOrder(ctx context.Context, cli *clientv3.Client, o FixOrder) error {
	if err := o.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(o)
	if err != nil {
		return wrapError(ErrInvalid, err, "encode fix order %s", o.ID)
	}
	if _, err := cli.Put(ctx, FixKey, string(b)); err != nil {
		return wrapError(ErrUnavailable, err, "put %s", FixKey)
	}
	return nil
}

// GetFixResult returns what the inspector did for the last order it
// carried out (ErrNotFound when none).
func GetFixResult(ctx context.Context, cli *clientv3.Client) (*FixResult, error) {
	resp, err := cli.Get(ctx, FixResultKey)
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "get %s", FixResultKey)
	}
	if len(resp.Kvs) == 0 {
		return nil, newError(ErrNotFound, "no fix result at %s", FixResultKey)
	}
	var r FixResult
	if err := decodeJSON(resp.Kvs[0].Value, MaxReportBytes, &r); err != nil {
		return nil, wrapError(ErrInvalid, err, "stored fix result")
	}
	return &r, nil
}

// decodeJSON reads one JSON value of at most limit bytes.
func decodeJSON(b []byte, limit int, v any) error {
	if len(b) > limit {
		return newError(ErrInvalid, "value of %d bytes, more than %d", len(b), limit)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return wrapError(ErrInvalid, err, "malformed %T", v)
	}
	if dec.More() {
		return newError(ErrInvalid, "trailing data after %T", v)
	}
	return nil
}
