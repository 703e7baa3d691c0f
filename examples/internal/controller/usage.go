package controller

import (
	"context"
	"math"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/examples/internal/state"
)

// account adds, for every app, what its instances held since the last pass
// (resources × time) and what the agents measured (CPU and working set ×
// time), and writes the totals under UsageKey. A pass longer than ten
// accounting intervals (a leader change, etcd down) counts only ten: usage
// is never invented for time nobody watched.
func (c *Controller) account(ctx context.Context, t *term) {
	now := c.cfg.Now()
	var items []item
	for _, a := range c.Apps() {
		ins := c.Instances(a.Spec.Name, "")
		c.cache.mu.RLock()
		prev := c.cache.usage[a.Spec.Name]
		c.cache.mu.RUnlock()
		u := state.Usage{App: a.Spec.Name, Team: a.Spec.Team, Since: now, UpdatedAt: now}
		if prev != nil {
			u = *prev
			u.Team, u.UpdatedAt = a.Spec.Team, now
		}
		dt := 0.0 // the first pass starts the clock
		if prev != nil {
			dt = min(now.Sub(prev.UpdatedAt), 10*c.cfg.AccountInterval).Hours()
		}
		if dt < 0 {
			continue
		}
		measured, _, _ := c.readings(a.Spec.Name, ins)
		for _, v := range ins {
			u.AllocCoreHours += v.Desired.Resources.CPUs * dt
			u.AllocGiBHours += float64(v.Desired.Resources.MemoryBytes) / (1 << 30) * dt
			if m, ok := measured[v.Desired.ID]; ok {
				if !math.IsNaN(m.CPUCores) {
					u.UsedCoreHours += m.CPUCores * dt
				}
				u.UsedGiBHours += m.MemoryBytes / (1 << 30) * dt
			}
		}
		items = append(items, item{ops: []clientv3.Op{putJSON(state.UsageKey(a.Spec.Name), &u)}})
	}
	if len(items) > 0 {
		if err := c.commit(ctx, t, items); err != nil {
			c.log.Warn("accounting", "err", err)
		}
	}
}

// accountLoop runs account every AccountInterval while this term lasts.
func (c *Controller) accountLoop(ctx context.Context, t *term) {
	tick := time.NewTicker(c.cfg.AccountInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			c.account(ctx, t)
		}
	}
}

// TeamShowback is a team's usage: its apps' and their sum.
type TeamShowback struct {
	Team  string        `json:"team"`
	Total state.Usage   `json:"total"`
	Apps  []state.Usage `json:"apps"`
}

// Showback returns the usage of every app, by team.
func (c *Controller) Showback() []TeamShowback {
	c.cache.mu.RLock()
	defer c.cache.mu.RUnlock()
	teams := map[string]*TeamShowback{}
	for _, u := range c.cache.usage {
		tb := teams[u.Team]
		if tb == nil {
			tb = &TeamShowback{Team: u.Team, Total: state.Usage{Team: u.Team, Since: u.Since}}
			teams[u.Team] = tb
		}
		tb.Apps = append(tb.Apps, *u)
		tb.Total.AllocCoreHours += u.AllocCoreHours
		tb.Total.AllocGiBHours += u.AllocGiBHours
		tb.Total.UsedCoreHours += u.UsedCoreHours
		tb.Total.UsedGiBHours += u.UsedGiBHours
		if u.Since.Before(tb.Total.Since) {
			tb.Total.Since = u.Since
		}
		tb.Total.UpdatedAt = maxTime(tb.Total.UpdatedAt, u.UpdatedAt)
	}
	out := make([]TeamShowback, 0, len(teams))
	for _, tb := range teams {
		sort.Slice(tb.Apps, func(i, j int) bool { return tb.Apps[i].App < tb.Apps[j].App })
		out = append(out, *tb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Team < out[j].Team })
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
