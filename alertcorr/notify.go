package alertcorr

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// Webhook is a Notifier that posts Alertmanager webhook payloads (version
// 4) to a URL, so alertcorr can feed anything that takes Alertmanager's
// webhooks.
type Webhook struct {
	// URL receives the POST.
	URL string
	// Client sends it. Default http.DefaultClient (with the context's
	// deadline).
	Client *http.Client
	// ExternalURL is put in the payload's externalURL.
	ExternalURL string
	// MaxAlerts bounds the alerts of one payload, as Alertmanager's
	// max_alerts: the rest are left out and counted in truncatedAlerts.
	// Zero means all.
	MaxAlerts int
}

var _ Notifier = (*Webhook)(nil)

// Notify posts n.
func (w *Webhook) Notify(ctx context.Context, n *Notification) error {
	p := n.Webhook(w.ExternalURL)
	if w.MaxAlerts > 0 && len(p.Alerts) > w.MaxAlerts {
		p.TruncatedAlerts = len(p.Alerts) - w.MaxAlerts
		p.Alerts = p.Alerts[:w.MaxAlerts]
	}
	body, err := json.Marshal(p)
	if err != nil {
		return wrapError(ErrInvalid, err, "encoding webhook for %s", n.GroupKey)
	}
	return post(ctx, w.Client, w.URL, body)
}

// Alertmanager is a Notifier that forwards notifications (in alertcorr's
// case, incidents) as alerts to an Alertmanager's POST /api/v2/alerts,
// so it can sit in front of an existing Alertmanager that does the
// receivers. A firing alert is sent with an end Hold after the flush, so
// that Alertmanager resolves it if alertcorr stops; the route's
// repeat_interval must be shorter than Hold.
type Alertmanager struct {
	// URL is the Alertmanager's base URL, e.g. http://127.0.0.1:9093.
	URL string
	// Client sends it. Default http.DefaultClient.
	Client *http.Client
	// Hold is how long a firing alert stays firing in Alertmanager unless
	// sent again. Default 24 h.
	Hold time.Duration
}

var _ Notifier = (*Alertmanager)(nil)

// Notify posts n's alerts to the Alertmanager.
func (am *Alertmanager) Notify(ctx context.Context, n *Notification) error {
	hold := am.Hold
	if hold <= 0 {
		hold = 24 * time.Hour
	}
	alerts := toWire(n.Alerts, n.At)
	for i := range alerts {
		alerts[i].Status, alerts[i].Fingerprint = "", ""
		if n.Alerts[i].EndsAt.IsZero() {
			alerts[i].EndsAt = n.At.Add(hold)
		}
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return wrapError(ErrInvalid, err, "encoding alerts for %s", n.GroupKey)
	}
	return post(ctx, am.Client, strings.TrimSuffix(am.URL, "/")+"/api/v2/alerts", body)
}

// Receivers is a Notifier that hands each notification to the Notifier
// named by its receiver.
type Receivers map[string]Notifier

var _ Notifier = Receivers(nil)

// Notify sends n to its receiver.
func (r Receivers) Notify(ctx context.Context, n *Notification) error {
	to, ok := r[n.Receiver]
	if !ok {
		return newError(ErrNotFound, "receiver %q", n.Receiver)
	}
	return to.Notify(ctx, n)
}

func post(ctx context.Context, c *http.Client, url string, body []byte) error {
	if c == nil {
		c = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return wrapError(ErrInvalid, err, "request to %s", url)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return wrapError(ErrUnavailable, err, "posting to %s", url)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return newError(ErrUnavailable, "%s answered %s: %s", url, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
