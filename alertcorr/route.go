package alertcorr

import (
	"slices"
	"strings"
	"time"
)

// Alertmanager's route defaults, which the root route starts from.
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
)

// GroupByAll in a route's GroupBy groups by every label (Alertmanager's
// group_by: ['...']).
const GroupByAll = "..."

// Route is one node of the routing tree, as in Alertmanager's route
// configuration. A zero field inherits the parent's value (the root's
// parent holds the defaults above); GroupBy inherits when nil.
type Route struct {
	// Receiver names where the route's groups are sent.
	Receiver string
	// Matchers select the alerts the route takes; none take every alert.
	Matchers Matchers
	// GroupBy are the labels that split alerts into groups; GroupByAll
	// groups by all labels; an empty non-nil slice puts all in one group.
	GroupBy []string
	// GroupWait is how long a new group waits for more alerts before its
	// first notification.
	GroupWait time.Duration
	// NoGroupWait makes a new group notify at once (Alertmanager's
	// group_wait: 0s), where a zero GroupWait would inherit.
	NoGroupWait bool
	// GroupInterval is how long a group waits before notifying of changes.
	GroupInterval time.Duration
	// RepeatInterval is how long before an unchanged group is sent again.
	RepeatInterval time.Duration
	// Continue lets the next sibling routes try the alert after this one
	// matched.
	Continue bool
	// Routes are the child routes, tried in order.
	Routes []*Route
}

// routeNode is a route with its inherited options resolved.
type routeNode struct {
	opts     routeOpts
	matchers Matchers
	cont     bool
	key      string
	children []*routeNode
}

// routeOpts are a route's effective options after inheritance.
type routeOpts struct {
	Receiver       string
	GroupBy        map[string]bool
	GroupByAll     bool
	GroupWait      time.Duration
	GroupInterval  time.Duration
	RepeatInterval time.Duration
}

// compileRoute resolves inheritance and validates the tree. depth bounds
// recursion on configuration from outside.
func compileRoute(r *Route, parent *routeNode, depth int) (*routeNode, error) {
	if depth > 64 {
		return nil, newError(ErrInvalid, "route tree deeper than 64")
	}
	var opts routeOpts
	if parent == nil {
		opts = routeOpts{GroupBy: map[string]bool{}, GroupWait: DefaultGroupWait, GroupInterval: DefaultGroupInterval, RepeatInterval: DefaultRepeatInterval}
		if r.Receiver == "" {
			return nil, newError(ErrInvalid, "root route has no receiver")
		}
		if len(r.Matchers) > 0 {
			return nil, newError(ErrInvalid, "root route has matchers %s; it must take every alert", r.Matchers)
		}
	} else {
		opts = parent.opts
	}
	if r.Receiver != "" {
		opts.Receiver = r.Receiver
	}
	if r.GroupBy != nil {
		opts.GroupBy, opts.GroupByAll = map[string]bool{}, false
		for _, n := range r.GroupBy {
			switch {
			case n == GroupByAll && len(r.GroupBy) == 1:
				opts.GroupByAll = true
			case n == GroupByAll:
				return nil, newError(ErrInvalid, "group_by %v mixes %q with label names", r.GroupBy, GroupByAll)
			case !validLabelName(n):
				return nil, newError(ErrInvalid, "group_by label %q is not a label name", truncate(n))
			default:
				opts.GroupBy[n] = true
			}
		}
	}
	for name, d := range map[string]*time.Duration{"group_wait": &r.GroupWait, "group_interval": &r.GroupInterval, "repeat_interval": &r.RepeatInterval} {
		if *d < 0 {
			return nil, newError(ErrInvalid, "route %s %v is negative", name, *d)
		}
	}
	switch {
	case r.NoGroupWait && r.GroupWait > 0:
		return nil, newError(ErrInvalid, "route has both NoGroupWait and group_wait %v", r.GroupWait)
	case r.NoGroupWait:
		opts.GroupWait = 0
	case r.GroupWait > 0:
		opts.GroupWait = r.GroupWait
	}
	if r.GroupInterval > 0 {
		opts.GroupInterval = r.GroupInterval
	}
	if r.RepeatInterval > 0 {
		opts.RepeatInterval = r.RepeatInterval
	}
	n := &routeNode{opts: opts, matchers: r.Matchers, cont: r.Continue}
	if parent == nil {
		n.key = r.Matchers.String()
	} else {
		n.key = parent.key + "/" + r.Matchers.String()
	}
	for i, c := range r.Routes {
		if c == nil {
			return nil, newError(ErrInvalid, "route %s child %d is nil", n.key, i)
		}
		cn, err := compileRoute(c, n, depth+1)
		if err != nil {
			return nil, err
		}
		n.children = append(n.children, cn)
	}
	// Sibling routes with the same matchers get distinct keys, as
	// Alertmanager's route IDs count them.
	seen := map[string]int{}
	for _, c := range n.children {
		seen[c.key]++
		if k := seen[c.key]; k > 1 {
			c.key += "/" + strings.Repeat("'", k-1)
		}
	}
	return n, nil
}

// match returns the routes that take l: the deepest matching routes, the
// search going on past a matching child only when it has Continue; a route
// none of whose children match takes the alert itself.
func (n *routeNode) match(l Labels) []*routeNode {
	if !n.matchers.Matches(l) {
		return nil
	}
	var all []*routeNode
	for _, c := range n.children {
		m := c.match(l)
		all = append(all, m...)
		if m != nil && !c.cont {
			break
		}
	}
	if len(all) == 0 {
		all = append(all, n)
	}
	return all
}

// groupLabels returns the labels of l that the route groups by.
func (n *routeNode) groupLabels(l Labels) Labels {
	out := Labels{}
	for k, v := range l {
		if v != "" && (n.opts.GroupByAll || n.opts.GroupBy[k]) {
			out[k] = v
		}
	}
	return out
}

// groupByList is the sorted group_by list for display.
func (o routeOpts) groupByList() []string {
	if o.GroupByAll {
		return []string{GroupByAll}
	}
	out := make([]string, 0, len(o.GroupBy))
	for k := range o.GroupBy {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
