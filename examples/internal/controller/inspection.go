package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/shoalkit/shoal/examples/internal/fleetinspect"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/inspect"
)

// Inspection is the fleet's last inspection round and the outcome of the
// last fix order (package fleetinspect: the agents answer over gossip, an
// inspector writes the report into etcd).
type Inspection struct {
	Report *fleetinspect.Report    `json:"report,omitempty"`
	Fix    *fleetinspect.FixResult `json:"fix,omitempty"`
}

// Inspection reads the last report and fix result from etcd.
func (c *Controller) Inspection(ctx context.Context) (*Inspection, error) {
	out := &Inspection{}
	var err error
	if out.Report, err = fleetinspect.GetReport(ctx, c.cfg.Etcd); err != nil && !errors.Is(err, fleetinspect.ErrNotFound) {
		return nil, wrapError(ErrUnavailable, err, "inspection report")
	}
	if out.Fix, err = fleetinspect.GetFixResult(ctx, c.cfg.Etcd); err != nil && !errors.Is(err, fleetinspect.ErrNotFound) {
		return nil, wrapError(ErrUnavailable, err, "fix result")
	}
	return out, nil
}

// PutInspectionSpec stores the fleet's desired state (inspect.Spec), the
// config center's half of inspection; its version must grow.
func (c *Controller) PutInspectionSpec(ctx context.Context, requestID string, raw []byte) (*inspect.Spec, error) {
	spec, err := inspect.ParseSpec(raw)
	if err != nil {
		return nil, &fieldError{field: "spec", err: wrapError(ErrInvalid, err, "inspection spec")}
	}
	if err := fleetinspect.PutSpec(ctx, c.cfg.Etcd, spec); err != nil {
		kind := ErrUnavailable
		switch {
		case errors.Is(err, fleetinspect.ErrConflict):
			kind = ErrConflict
		case errors.Is(err, fleetinspect.ErrInvalid):
			kind = ErrInvalid
		}
		return nil, &fieldError{field: "version", err: wrapError(kind, err, "inspection spec")}
	}
	c.event(ctx, requestID, state.Event{
		Kind: "InspectionSpecSet", Priority: state.Info,
		Message: fmt.Sprintf("version %d, %d check(s)", spec.Version, len(spec.Checks)),
	})
	return spec, nil
}

// OrderFix asks the inspector to run the spec's fixes on failed members;
// the order is named by the request id.
func (c *Controller) OrderFix(ctx context.Context, requestID string, o fleetinspect.FixOrder) error {
	o.ID = requestID
	if err := o.Validate(); err != nil {
		return wrapError(ErrInvalid, err, "fix order")
	}
	if err := fleetinspect.PutFixOrder(ctx, c.cfg.Etcd, o); err != nil {
		return wrapError(ErrUnavailable, err, "fix order")
	}
	c.event(ctx, requestID, state.Event{
		Kind: "FixOrdered", Priority: state.Warning,
		Message: fmt.Sprintf("spec %d, nodes %v, checks %v, dry run %v", o.Spec, o.Nodes, o.Checks, o.DryRun),
	})
	return nil
}

func (c *Controller) inspectionRoutes(h func(string, func(http.ResponseWriter, *http.Request) error)) {
	h("GET /v1/inspection", func(w http.ResponseWriter, r *http.Request) error {
		in, err := c.Inspection(r.Context())
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, in)
	})
	h("PUT /v1/inspection/spec", func(w http.ResponseWriter, r *http.Request) error {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		spec, err := c.PutInspectionSpec(r.Context(), RequestID(r.Context()), raw)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, spec)
	})
	h("POST /v1/inspection/fix", func(w http.ResponseWriter, r *http.Request) error {
		var o fleetinspect.FixOrder
		if err := decodeBody(r, &o); err != nil {
			return err
		}
		if err := c.OrderFix(r.Context(), RequestID(r.Context()), o); err != nil {
			return err
		}
		return writeJSON(w, http.StatusAccepted, map[string]string{"order": RequestID(r.Context())})
	})
}
