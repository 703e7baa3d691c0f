package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// maxDetailsBody bounds a stage-two reply: far beyond any real one, small
// enough that a broken node cannot exhaust the inspector.
const maxDetailsBody = 16 << 20

// needsDetail reports whether a member's failures can be fetched.
func needsDetail(m *MemberReport) bool {
	return len(m.Failed) > 0 && m.Tags[AddrTag] != ""
}

// Details is stage two: it fetches, over HTTP from each failed member's
// AddrTag endpoint, the full results of its failed checks into
// MemberReport.Details. A member that cannot be reached keeps its verdict
// and gets the error in Reason; Details returns an error only for bad
// arguments.
func (in *Inspector) Details(ctx context.Context, rep *Report) error {
	if rep == nil {
		return newError(ErrInvalid, "nil report")
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(in.cfg.DetailConcurrency)
	for i := range rep.Members {
		m := &rep.Members[i]
		if !needsDetail(m) {
			continue
		}
		g.Go(func() error {
			d, err := in.fetchDetails(gctx, m.Tags[AddrTag], rep.Spec)
			if err != nil {
				m.Reason = err.Error()
				return nil
			}
			m.Details = d.Results
			return nil
		})
	}
	_ = g.Wait() // per-member errors are in the report
	return nil
}

func (in *Inspector) fetchDetails(ctx context.Context, addr string, version uint64) (Details, error) {
	var d Details
	u := fmt.Sprintf("http://%s%s?version=%d", addr, DetailsPath, version)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return d, wrapError(ErrInvalid, err, "details address %q", addr)
	}
	body, err := in.do(req)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(body, &d); err != nil {
		return d, wrapError(ErrInvalid, err, "details from %s", addr)
	}
	return d, nil
}

func (in *Inspector) do(req *http.Request) ([]byte, error) { return do(in.cfg.HTTP, req) }

// do sends req and returns the body of a 200 reply, at most
// maxDetailsBody; another status is an error of the matching kind.
func do(client *http.Client, req *http.Request) ([]byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "%s %s", req.Method, req.URL.Host)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDetailsBody))
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "%s %s", req.Method, req.URL.Host)
	}
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		_ = json.Unmarshal(body, &e) // the message is best effort
		kind := ErrUnavailable
		switch resp.StatusCode {
		case http.StatusForbidden:
			kind = ErrDenied
		case http.StatusTooManyRequests:
			kind = ErrRateLimited
		case http.StatusNotFound:
			kind = ErrNotFound
		case http.StatusBadRequest:
			kind = ErrInvalid
		}
		return nil, newError(kind, "%s %s: %s: %s", req.Method, req.URL.Host, resp.Status, e.Error)
	}
	return body, nil
}

// RemediateOptions says which fixes to run where.
type RemediateOptions struct {
	// Key signs the fix requests (the agents' FixKey).
	Key []byte
	// DryRun asks the agents what they would do, without doing it.
	DryRun bool
	// Checks limits the fixes to these check ids (nil: every failed check
	// whose spec defines a fix).
	Checks []string
	// MaxNodes is the most nodes one call touches (default 10); the rest
	// are reported as deferred.
	MaxNodes int
	// Rate is how many nodes per second fixes start on (default 2).
	Rate float64
}

// Remediation is what fixing one node did.
type Remediation struct {
	Node     string       `json:"node"`
	Outcomes []FixOutcome `json:"outcomes,omitempty"`
	Deferred bool         `json:"deferred,omitempty"`
	Error    string       `json:"error,omitempty"`
}

// Remediate runs the fixes of the failed checks on the failed members of
// rep, rate-limited, through each member's authenticated fix endpoint.
// The next round confirms the result.
func (in *Inspector) Remediate(ctx context.Context, rep *Report, spec *Spec, opt RemediateOptions) ([]Remediation, error) {
	switch {
	case rep == nil || spec == nil:
		return nil, newError(ErrInvalid, "remediate needs a report and its spec")
	case rep.Spec != spec.Version:
		return nil, newError(ErrInvalid, "report is on spec version %d, spec is %d", rep.Spec, spec.Version)
	case len(opt.Key) == 0:
		return nil, newError(ErrInvalid, "RemediateOptions.Key is empty")
	}
	if opt.MaxNodes <= 0 {
		opt.MaxNodes = 10
	}
	if opt.Rate <= 0 {
		opt.Rate = 2
	}
	var out []Remediation
	type job struct {
		m      *MemberReport
		checks []string
	}
	var jobs []job
	for i := range rep.Members {
		m := &rep.Members[i]
		var checks []string
		for _, id := range m.Failed {
			k, ok := spec.Index(id)
			if ok && spec.Checks[k].Fix != nil && (opt.Checks == nil || slices.Contains(opt.Checks, id)) {
				checks = append(checks, id)
			}
		}
		switch {
		case len(checks) == 0:
		case len(jobs) >= opt.MaxNodes:
			out = append(out, Remediation{Node: m.Name, Deferred: true})
		case m.Tags[AddrTag] == "":
			out = append(out, Remediation{Node: m.Name, Error: "no " + AddrTag + " tag: no fix endpoint"})
		default:
			jobs = append(jobs, job{m, checks})
		}
	}
	results := make([]Remediation, len(jobs))
	tick := time.NewTicker(time.Duration(float64(time.Second) / opt.Rate))
	defer tick.Stop()
	g := new(errgroup.Group)
	g.SetLimit(in.cfg.DetailConcurrency)
	var mu sync.Mutex
	for i, j := range jobs {
		if i > 0 {
			select {
			case <-ctx.Done():
				mu.Lock()
				results[i] = Remediation{Node: j.m.Name, Deferred: true, Error: ctx.Err().Error()}
				mu.Unlock()
				continue
			case <-tick.C:
			}
		}
		g.Go(func() error {
			r := in.fixNode(ctx, j.m, spec.Version, j.checks, opt)
			mu.Lock()
			results[i] = r
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait() // per-node errors are in the results
	return append(results, out...), nil
}

func (in *Inspector) fixNode(ctx context.Context, m *MemberReport, version uint64, checks []string, opt RemediateOptions) Remediation {
	res := Remediation{Node: m.Name}
	body, sig := FixRequest{Node: m.Name, Version: version, Checks: checks, DryRun: opt.DryRun, Time: in.cfg.Now().Unix()}.Sign(opt.Key)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+m.Tags[AddrTag]+FixPath, bytes.NewReader(body))
	if err != nil {
		res.Error = wrapError(ErrInvalid, err, "fix address %q", m.Tags[AddrTag]).Error()
		return res
	}
	req.Header.Set(SignatureHeader, sig)
	req.Header.Set("Content-Type", "application/json")
	reply, err := in.do(req)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	if err := json.Unmarshal(reply, &res.Outcomes); err != nil {
		res.Error = wrapError(ErrInvalid, err, "fix reply from %s", m.Name).Error()
	}
	return res
}
