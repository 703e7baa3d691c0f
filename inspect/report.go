package inspect

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// MemberStatus is how a round accounts for a member.
type MemberStatus string

// Every member of a round gets exactly one of these.
const (
	StatusPassed MemberStatus = "passed" // holds the spec, every check passed
	StatusFailed MemberStatus = "failed" // holds the spec, some checks failed (Failed)
	StatusStale  MemberStatus = "stale"  // holds another spec version (HeldSpec)
	StatusDead   MemberStatus = "dead"   // serf declared it failed
	StatusLeft   MemberStatus = "left"   // left the cluster
	// StatusUnreachable: alive by its peers (it answered through them, or
	// they reached it) but not reachable from the inspector. Failed holds
	// its verdict when it answered through peers.
	StatusUnreachable MemberStatus = "unreachable"
	// StatusSilent: alive by serf but gave no verdict (Reason says why).
	StatusSilent MemberStatus = "silent"
)

// Statuses lists the member statuses in report order.
func Statuses() []MemberStatus {
	return []MemberStatus{StatusPassed, StatusFailed, StatusStale, StatusDead, StatusLeft, StatusUnreachable, StatusSilent}
}

// MemberReport is one member's line of a round.
type MemberReport struct {
	Name   string            `json:"name"`
	Addr   string            `json:"addr"`
	Tags   map[string]string `json:"tags,omitempty"`
	Status MemberStatus      `json:"status"`
	// Failed are the ids of the checks that failed or errored.
	Failed []string `json:"failed,omitempty"`
	// HeldSpec is the member's SpecTag ("version:hash"); SpecDrift is true
	// when it is not the round's spec (seen without a query).
	HeldSpec  string `json:"held_spec"`
	SpecDrift bool   `json:"spec_drift"`
	// Attempts is the query attempt that got the verdict (1 = first);
	// Relayed is true when it came in a relayed re-query.
	Attempts int  `json:"attempts,omitempty"`
	Relayed  bool `json:"relayed,omitempty"`
	// Via is the collector the verdict came through (see CollectPath);
	// empty when the member answered the inspector.
	Via    string `json:"via,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Details are the stage-two results of the failed checks (Inspector.Details).
	Details []Result `json:"details,omitempty"`
}

func (m *MemberReport) setVerdict(spec *Spec, v Verdict) {
	m.Reason = ""
	switch {
	case v.Stale:
		m.Status = StatusStale
		m.Reason = fmt.Sprintf("holds spec version %d", v.Held)
	case len(v.Failed) == 0:
		m.Status = StatusPassed
	default:
		m.Status = StatusFailed
		for _, i := range v.Failed {
			m.Failed = append(m.Failed, spec.Checks[i].ID)
		}
	}
}

// Health is the inspector's own state during a round, so that a slow or
// overloaded inspector is not mistaken for silent nodes.
type Health struct {
	Attempts        int    `json:"attempts"`
	Collectors      int    `json:"collectors,omitempty"`
	CollectorErrors int    `json:"collector_errors,omitempty"`
	QueryErrors     int    `json:"query_errors"`
	BadReplies      int    `json:"bad_replies"`
	SerfHealthScore int    `json:"serf_health_score"`
	QueryQueue      int    `json:"query_queue"`
	QueriesDropped  uint64 `json:"queries_dropped"`
	Goroutines      int    `json:"goroutines"`
	Degraded        bool   `json:"degraded"`
	Reason          string `json:"reason,omitempty"`
}

// Report is one round: every member serf knew at its start, accounted,
// except inspector-only members (InspectorTag), the inspector's own
// included unless InspectorConfig.InspectSelf.
type Report struct {
	Spec uint64 `json:"spec"`
	// Inspector is the name of the member that ran the round.
	Inspector string               `json:"inspector,omitempty"`
	Started   time.Time            `json:"started"`
	Took      Duration             `json:"took"`
	Members   []MemberReport       `json:"members"`
	Counts    map[MemberStatus]int `json:"counts"`
	Health    Health               `json:"health"`
	byName    map[string]int
}

func (r *round) report(spec *Spec, start, end time.Time) *Report {
	rep := &Report{
		Spec: spec.Version, Started: start, Took: Duration(end.Sub(start)),
		Counts: map[MemberStatus]int{}, Health: *r.health, byName: map[string]int{},
	}
	for _, m := range r.members {
		rep.Members = append(rep.Members, *m)
	}
	slices.SortFunc(rep.Members, func(a, b MemberReport) int { return strings.Compare(a.Name, b.Name) })
	for i, m := range rep.Members {
		rep.Counts[m.Status]++
		rep.byName[m.Name] = i
	}
	return rep
}

// Member returns the named member's line.
func (r *Report) Member(name string) (*MemberReport, bool) {
	if r.byName == nil {
		r.byName = map[string]int{}
		for i, m := range r.Members {
			r.byName[m.Name] = i
		}
	}
	i, ok := r.byName[name]
	if !ok {
		return nil, false
	}
	return &r.Members[i], true
}

// Accounted is the number of members with a status: every member, in
// every round.
func (r *Report) Accounted() int {
	n := 0
	for _, c := range r.Counts {
		n += c
	}
	return n - r.Counts[""]
}

// WriteText writes the report as a summary and one line per member that
// did not pass.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "spec v%d  %d members  took %v\n", r.Spec, len(r.Members), time.Duration(r.Took).Round(time.Millisecond))
	var counts []string
	for _, s := range Statuses() {
		if r.Counts[s] > 0 {
			counts = append(counts, fmt.Sprintf("%s %d", s, r.Counts[s]))
		}
	}
	fmt.Fprintf(tw, "%s\n", strings.Join(counts, ", "))
	if r.Health.Degraded {
		fmt.Fprintf(tw, "inspector degraded: %s\n", r.Health.Reason)
	}
	for _, m := range r.Members {
		if m.Status == StatusPassed {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Name, m.Status, strings.Join(m.Failed, ","), m.Reason)
		for _, d := range m.Details {
			fmt.Fprintf(tw, "\t\t%s: %s, observed %q, want %s %s\n", d.ID, d.Outcome, d.Observed, d.Want, d.Error)
		}
	}
	return tw.Flush()
}
