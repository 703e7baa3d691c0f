package alertcorr

import (
	"encoding/json"
	"io"
	"time"
)

// wireAlert is an alert as Alertmanager's API (POST /api/v2/alerts, and
// v1) and its webhook payloads carry it.
type wireAlert struct {
	Status       string            `json:"status,omitempty"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
	Fingerprint  string            `json:"fingerprint,omitempty"`
}

// WebhookPayload is the body Alertmanager's webhook receiver posts
// (version 4), which alertcorr both accepts and sends.
type WebhookPayload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []wireAlert       `json:"alerts"`
}

// maxBody bounds a request body alertcorr reads.
const maxBody = 32 << 20

// maxBatch bounds the alerts of one request.
const maxBatch = 100_000

// DecodeAlerts parses the body of POST /api/v2/alerts: a JSON array of
// alerts with labels, annotations, startsAt, endsAt and generatorURL.
func DecodeAlerts(r io.Reader) ([]Alert, error) {
	var in []wireAlert
	if err := decodeJSON(r, &in); err != nil {
		return nil, err
	}
	return fromWire(in)
}

// DecodeWebhook parses an Alertmanager webhook payload (any version that
// has alerts with status, labels and times, 0.25's included) into alerts;
// a resolved alert keeps its end time.
func DecodeWebhook(r io.Reader) (*WebhookPayload, []Alert, error) {
	var p WebhookPayload
	if err := decodeJSON(r, &p); err != nil {
		return nil, nil, err
	}
	for i, a := range p.Alerts {
		if a.Status != "" && a.Status != "firing" && a.Status != "resolved" {
			return nil, nil, newError(ErrInvalid, "webhook alert %d has status %q, not firing or resolved", i, truncate(a.Status))
		}
		if a.Status == "firing" {
			// A firing alert's end in a webhook is zero or a timeout
			// estimate; ours is the resolve timeout from now.
			p.Alerts[i].EndsAt = time.Time{}
		}
		if a.Status == "resolved" && a.EndsAt.IsZero() {
			return nil, nil, newError(ErrInvalid, "webhook alert %d is resolved without endsAt", i)
		}
	}
	alerts, err := fromWire(p.Alerts)
	if err != nil {
		return nil, nil, err
	}
	return &p, alerts, nil
}

func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(r, maxBody+1))
	if err := dec.Decode(v); err != nil {
		return wrapError(ErrInvalid, err, "decoding JSON")
	}
	if dec.More() {
		return newError(ErrInvalid, "trailing data after the JSON value")
	}
	return nil
}

func fromWire(in []wireAlert) ([]Alert, error) {
	if len(in) > maxBatch {
		return nil, newError(ErrInvalid, "%d alerts in one request, more than %d", len(in), maxBatch)
	}
	out := make([]Alert, 0, len(in))
	for i, w := range in {
		if len(w.Labels) == 0 {
			return nil, newError(ErrInvalid, "alert %d has no labels", i)
		}
		a := Alert{Labels: w.Labels, Annotations: w.Annotations, StartsAt: w.StartsAt, EndsAt: w.EndsAt, GeneratorURL: w.GeneratorURL}
		if err := a.Labels.Validate(); err != nil {
			return nil, wrapError(ErrInvalid, err, "alert %d", i)
		}
		if err := a.Annotations.Validate(); err != nil {
			return nil, wrapError(ErrInvalid, err, "alert %d annotations", i)
		}
		out = append(out, a)
	}
	return out, nil
}

// toWire renders alerts for the API and webhooks at time at.
func toWire(alerts []Alert, at time.Time) []wireAlert {
	out := make([]wireAlert, len(alerts))
	for i := range alerts {
		a := &alerts[i]
		out[i] = wireAlert{Status: a.Status(at), Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL, Fingerprint: a.Fingerprint().String()}
	}
	return out
}

// Webhook renders a notification as Alertmanager's webhook receiver sends
// it: version 4, status firing when any alert fires, common labels and
// annotations.
func (n *Notification) Webhook(externalURL string) *WebhookPayload {
	p := &WebhookPayload{Version: "4", GroupKey: n.GroupKey, Status: "resolved", Receiver: n.Receiver, GroupLabels: n.GroupLabels, ExternalURL: externalURL, Alerts: toWire(n.Alerts, n.At)}
	if p.GroupLabels == nil {
		p.GroupLabels = map[string]string{}
	}
	if n.Firing() > 0 {
		p.Status = "firing"
	}
	p.CommonLabels = common(n.Alerts, func(a *Alert) Labels { return a.Labels })
	p.CommonAnnotations = common(n.Alerts, func(a *Alert) Labels { return a.Annotations })
	return p
}

// common returns the pairs every alert has.
func common(alerts []Alert, of func(*Alert) Labels) map[string]string {
	out := map[string]string{}
	if len(alerts) == 0 {
		return out
	}
	for k, v := range of(&alerts[0]) {
		out[k] = v
	}
	for i := 1; i < len(alerts); i++ {
		l := of(&alerts[i])
		for k, v := range out {
			if l[k] != v {
				delete(out, k)
			}
		}
	}
	return out
}
