package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
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

// fanout sends each notification to the notifiers of every receiver ("")
// and to those of its route receiver. A failure of one makes the engine
// retry the notification at the group's next flush, for all of them.
type fanout map[string][]alertcorr.Notifier

func (f fanout) Notify(ctx context.Context, n *alertcorr.Notification) error {
	var errs []error
	for _, to := range slices.Concat(f[""], f[n.Receiver]) {
		errs = append(errs, to.Notify(ctx, n))
	}
	return errors.Join(errs...)
}
