package inspect

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"time"
)

// maxFixSkew is how far a fix request's time may be from the agent's clock.
const maxFixSkew = time.Minute

// FixRequest asks one node to run the fixes of some checks of a spec. It
// names checks of the spec the node holds, never a command.
type FixRequest struct {
	Node    string   `json:"node"`
	Version uint64   `json:"version"`
	Checks  []string `json:"checks"`
	DryRun  bool     `json:"dry_run"`
	// Time is when the request was made (Unix seconds); the agent refuses
	// requests more than a minute off its clock.
	Time int64 `json:"time"`
}

// FixOutcome is what a fix did, or would do, for one check.
type FixOutcome struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	DryRun bool   `json:"dry_run"`
	Error  string `json:"error,omitempty"`
	// Before and After are the check's results around the fix (After is
	// empty for a dry run or a refused fix).
	Before Result  `json:"before"`
	After  *Result `json:"after,omitempty"`
}

// Sign returns the request's body and its signature under key: what
// the agent's fix endpoint verifies.
func (r FixRequest) Sign(key []byte) (body []byte, signature string) {
	body, _ = json.Marshal(r) // plain struct: cannot fail
	return body, sign(key, body)
}

func sign(key, body []byte) string { return hex.EncodeToString(hmacOf(key, body)) }

// verifyFix authenticates a signed fix request for this agent.
func (a *Agent) verifyFix(body []byte, signature string) (FixRequest, error) {
	var req FixRequest
	if len(a.cfg.FixKey) == 0 {
		return req, newError(ErrDenied, "fixes are disabled on node %s (no FixKey)", a.cfg.Name)
	}
	want, err := hex.DecodeString(signature)
	if err != nil || !hmac.Equal(want, hmacOf(a.cfg.FixKey, body)) {
		return req, newError(ErrDenied, "fix request with a bad signature")
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, wrapError(ErrInvalid, err, "fix request")
	}
	if req.Node != a.cfg.Name {
		return req, newError(ErrDenied, "fix request for node %q sent to %q", req.Node, a.cfg.Name)
	}
	if d := a.cfg.Host.Now().Sub(time.Unix(req.Time, 0)); d > maxFixSkew || d < -maxFixSkew {
		return req, newError(ErrDenied, "fix request made %v from the agent's clock", d.Round(time.Second))
	}
	return req, nil
}

func hmacOf(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)
}

// Fix authenticates a signed fix request and runs (or, for a dry run,
// describes) the fix of each check it names. Checks without a fix, not
// failing, or fixed less than FixInterval ago are reported, not run.
func (a *Agent) Fix(ctx context.Context, body []byte, signature string) ([]FixOutcome, error) {
	req, err := a.verifyFix(body, signature)
	if err != nil {
		return nil, err
	}
	spec := a.Spec()
	if spec == nil || spec.Version != req.Version {
		return nil, newError(ErrNotFound, "spec version %d is not held by node %s", req.Version, a.cfg.Name)
	}
	if len(req.Checks) > len(spec.Checks) {
		return nil, newError(ErrInvalid, "fix request names %d checks, spec has %d", len(req.Checks), len(spec.Checks))
	}
	out := make([]FixOutcome, 0, len(req.Checks))
	for _, id := range req.Checks {
		out = append(out, a.fixOne(ctx, spec, id, req.DryRun))
	}
	if !req.DryRun {
		a.invalidate()
	}
	return out, nil
}

func (a *Agent) fixOne(ctx context.Context, spec *Spec, id string, dry bool) FixOutcome {
	o := FixOutcome{ID: id, DryRun: dry}
	i, ok := spec.Index(id)
	if !ok {
		o.Error = newError(ErrNotFound, "check %q not in spec version %d", id, spec.Version).Error()
		return o
	}
	c := &spec.Checks[i]
	if c.Fix == nil {
		o.Error = newError(ErrDenied, "check %s has no fix", id).Error()
		return o
	}
	o.Action = describeFix(c)
	o.Before = a.runCheck(ctx, spec, i)
	switch {
	case o.Before.Outcome == OutcomeSkipped:
		o.Error = newError(ErrDenied, "check %s does not apply to node %s", id, a.cfg.Name).Error()
		return o
	case o.Before.Outcome == OutcomePass:
		o.Action = "none: check passes"
		return o
	case dry:
		return o
	}
	a.mu.Lock()
	last, now := a.lastFix[id], a.cfg.Host.Now()
	if !last.IsZero() && now.Sub(last) < a.cfg.FixInterval {
		a.mu.Unlock()
		o.Error = newError(ErrRateLimited, "check %s was fixed %v ago (FixInterval %v)", id, now.Sub(last).Round(time.Second), a.cfg.FixInterval).Error()
		return o
	}
	a.lastFix[id] = now
	a.mu.Unlock()
	if err := a.applyFix(ctx, c); err != nil {
		o.Error = err.Error()
	}
	after := a.runCheck(ctx, spec, i)
	o.After = &after
	return o
}

func (a *Agent) runCheck(ctx context.Context, spec *Spec, i int) Result {
	return a.cfg.Host.runChecks(ctx, spec, a.cfg.Tags, []int{i}, 1, a.cfg.CheckTimeout)[i]
}

func describeFix(c *Check) string {
	if c.Fix.Sysctl != "" {
		return "sysctl " + c.Key + "=" + c.Fix.Sysctl
	}
	return "run " + strings.Join(c.Fix.Command, " ")
}

func (a *Agent) applyFix(ctx context.Context, c *Check) error {
	timeout := a.cfg.CheckTimeout
	if c.Timeout > 0 {
		timeout = time.Duration(c.Timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if c.Fix.Sysctl != "" {
		p := a.cfg.Host.path(sysctlPath(c.Key))
		if err := os.WriteFile(p, []byte(c.Fix.Sysctl+"\n"), 0o644); err != nil { //nolint:gosec // sysctl files are 0644
			return wrapError(ErrUnavailable, err, "fix %s: write %s", c.ID, p)
		}
		return nil
	}
	if out, err := a.cfg.Host.Exec(ctx, c.Fix.Command); err != nil {
		return wrapError(ErrUnavailable, err, "fix %s: %s: %s", c.ID, c.Fix.Command[0], firstLine(out))
	}
	return nil
}
