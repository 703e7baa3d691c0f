package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/shoalkit/shoal/alertcorr"
)

// fileSettings is the part of alertcorr.Config that is data, as -settings
// holds it.
type fileSettings struct {
	Route           *alertcorr.Route
	InhibitRules    []alertcorr.InhibitRule
	WithoutResolved []string
	ResolveTimeout  time.Duration
	Retention       time.Duration
	MaxAlerts       int
	ClockSkew       time.Duration
	Tick            time.Duration
	Correlation     alertcorr.Correlation
}

// loadSettings reads path into cfg. JSON leaves a Matcher's compiled
// regexp unset, so every matcher is built again with NewMatcher, which
// also validates it.
func loadSettings(path string, cfg *alertcorr.Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var fc fileSettings
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var all []alertcorr.Matchers
	for routes := []*alertcorr.Route{fc.Route}; len(routes) > 0; routes = routes[1:] {
		if r := routes[0]; r != nil {
			all, routes = append(all, r.Matchers), append(routes, r.Routes...)
		}
	}
	for _, r := range fc.InhibitRules {
		all = append(all, r.Source, r.Target)
	}
	for _, ms := range all {
		for i, m := range ms {
			if m == nil {
				return fmt.Errorf("%s: a matcher is null", path)
			}
			if ms[i], err = alertcorr.NewMatcher(m.Type, m.Name, m.Value); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	cfg.Route, cfg.InhibitRules, cfg.WithoutResolved = fc.Route, fc.InhibitRules, fc.WithoutResolved
	cfg.ResolveTimeout, cfg.Retention, cfg.MaxAlerts, cfg.ClockSkew, cfg.Tick = fc.ResolveTimeout, fc.Retention, fc.MaxAlerts, fc.ClockSkew, fc.Tick
	cfg.Correlation = fc.Correlation
	return nil
}

// loadAlertmanagerConfig reads an alertmanager.yml into cfg (route,
// inhibit rules, resolve timeout, receivers without send_resolved) and
// returns it for its webhook receivers.
func loadAlertmanagerConfig(path string, cfg *alertcorr.Config) (*alertcorr.AlertmanagerConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close() // read only
	am, err := alertcorr.ParseAlertmanagerConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	am.Apply(cfg)
	return am, nil
}
