package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/shoalkit/shoal/alertcorr"
)

// receiver is one -webhook or -alertmanager value: a URL, for one route
// receiver's notifications when named, else for all of them.
type receiver struct{ name, url string }

// receiverFlag collects repeated [RECEIVER=]URL values.
type receiverFlag []receiver

func (f *receiverFlag) String() string { return fmt.Sprint([]receiver(*f)) }

func (f *receiverFlag) Set(v string) error {
	var r receiver
	if name, rest, ok := strings.Cut(v, "="); ok && !strings.Contains(name, "/") {
		r.name, v = name, rest
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", v)
	}
	r.url = v
	*f = append(*f, r)
	return nil
}

// notifiers builds the fan-out over every destination: the webhook
// receivers of the Alertmanager config, then -webhook and -alertmanager.
// Each has its own bounded queue, so a slow one holds up no other.
func notifiers(am *alertcorr.AlertmanagerConfig, webhooks, alertmanagers receiverFlag, client *http.Client, externalURL string, log *slog.Logger) (*alertcorr.FanOut, int, error) {
	var targets []alertcorr.FanOutTarget
	if am != nil {
		for _, r := range am.Receivers {
			for _, w := range r.Webhooks {
				targets = append(targets, alertcorr.FanOutTarget{
					Name: r.Name + " " + w.URL, Receiver: r.Name,
					Notifier: &alertcorr.Webhook{URL: w.URL, Client: client, ExternalURL: externalURL, MaxAlerts: w.MaxAlerts},
				})
			}
		}
	}
	for _, r := range webhooks {
		targets = append(targets, alertcorr.FanOutTarget{Name: "webhook " + r.url, Receiver: r.name, Notifier: &alertcorr.Webhook{URL: r.url, Client: client, ExternalURL: externalURL}})
	}
	for _, r := range alertmanagers {
		targets = append(targets, alertcorr.FanOutTarget{Name: "alertmanager " + r.url, Receiver: r.name, Notifier: &alertcorr.Alertmanager{URL: r.url, Client: client}})
	}
	f, err := alertcorr.NewFanOut(alertcorr.FanOutConfig{Logger: log}, targets...)
	return f, len(targets), err
}
