package sched

// Code is the outcome of a plugin call.
type Code int

const (
	// Success means the node passes. A nil *Status also means success.
	Success Code = iota
	// Unschedulable means the node fails now but could pass after a change of
	// the inventory (capacity freed, an instance released).
	Unschedulable
	// UnschedulableAndUnresolvable means the node cannot pass for this request
	// whatever is released (wrong zone, missing topology key).
	UnschedulableAndUnresolvable
	// Skip means, returned by PreFilter or PreScore, that the plugin has nothing
	// to do for this request: its Filter or Score is not called.
	Skip
)

// Status is a plugin's verdict with a short reason. A nil *Status is
// success. Plugins return the same *Status value for the same reason so
// the per-node loop does not allocate.
type Status struct {
	code   Code
	reason string
}

// NewStatus returns a status with a code and a reason.
func NewStatus(code Code, reason string) *Status { return &Status{code: code, reason: reason} }

// Code returns the status code; Success for a nil status.
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// Reason returns the status reason; "" for a nil status.
func (s *Status) Reason() string {
	if s == nil {
		return ""
	}
	return s.reason
}

// IsSuccess reports whether the status is nil or Success.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// Plugin is the common part of every plugin.
type Plugin interface {
	// Name identifies the plugin in configuration and why-not answers.
	Name() string
}

// FilterPlugin decides whether a node can take one replica of the request:
// nil for yes, else a status with code Unschedulable or
// UnschedulableAndUnresolvable. It is called once per node per replica, so
// it must not allocate. In exact mode Filter runs on several goroutines at
// once for different nodes (see Config.Parallelism): it must only read the
// plugin's state, which PreFilter may write. A filter may implement
// NodeFilter and BatchFilter to take the engine's fast paths; the
// schedtest package's ValidateFilter checks all of this.
type FilterPlugin interface {
	Plugin
	Filter(c *Cycle, n *NodeInfo) *Status
}

// ScorePlugin rates a feasible node from 0 to MaxScore; higher is better.
// It is called once per feasible node per replica, concurrently like
// Filter, so it must only read state that PreScore prepared. It may
// implement NodeScorer and BatchScorer (checked by schedtest's
// ValidateScore).
type ScorePlugin interface {
	Plugin
	Score(c *Cycle, n *NodeInfo) int64
}

// PreFilterPlugin is optionally implemented by a FilterPlugin that
// prepares per-replica state once before the node loop. Returning a Skip
// status leaves the plugin out for this replica; any other non-nil status
// rejects every node with that reason.
type PreFilterPlugin interface {
	PreFilter(c *Cycle) *Status
}

// PreScorePlugin is optionally implemented by a ScorePlugin that prepares
// per-replica state; a Skip status leaves the plugin out.
type PreScorePlugin interface {
	PreScore(c *Cycle) *Status
}

// Explainer is optionally implemented by a FilterPlugin to say what would
// have to change when a replica cannot be placed. blocked holds the nodes
// that only this filter rejected (they pass all the others). It runs only
// on failure and may allocate.
type Explainer interface {
	Explain(c *Cycle, blocked []*NodeInfo) []string
}

// NodeFilter is optionally implemented by a FilterPlugin whose verdict on
// a node depends only on the request and on that node's own state: its
// capacity and free resources, IPs, labels, taints, cordon, level,
// topology and images; never on other nodes, nor on where the app's
// instances are. The scheduler then runs it in its first sweep over the
// nodes and keeps the nodes that pass every such filter as cached
// candidates, for the following replicas and the following Place calls
// with an equal key; it re-runs it only on the nodes the inventory
// reports changed. Built-in node-only filters (resources, zones, network
// zone, labels, taints) take this path, and a custom filter joins them by
// implementing it.
type NodeFilter interface {
	FilterPlugin
	// AppendKey appends to key what the verdicts depend on besides the
	// node: the parts of the request the plugin reads and whatever its
	// PreFilter prepared. Two cycles with equal keys must give equal
	// verdicts on a node whose state did not change. It runs once per
	// replica, after PreFilter.
	AppendKey(c *Cycle, key []byte) []byte
}

// NodeScorer is NodeFilter's counterpart for a ScorePlugin whose score of
// a node depends only on the request and on the node's own state: its
// scores are cached with the candidates.
type NodeScorer interface {
	ScorePlugin
	// AppendKey appends what the scores depend on besides the node, as
	// NodeFilter's does.
	AppendKey(c *Cycle, key []byte) []byte
}

// BatchFilter is optionally implemented by a FilterPlugin that judges a
// list of nodes in one call faster than one Filter call per node: the
// engine's loops run a plugin at a time over compact lists of nodes, and
// use FilterBatch where a plugin has it. Nodes are given by their slot
// (NodeInfo.Slot; Cycle.Node turns one back into its NodeInfo).
// FilterBatch must agree with Filter node by node.
type BatchFilter interface {
	FilterPlugin
	// FilterBatch appends to dst, in order, the slots of src whose nodes
	// pass, and returns dst. dst may share src's array (dst is src[:0]):
	// read src[i] before writing dst[i]. Like Filter it may run on several
	// goroutines at once, for different lists.
	FilterBatch(c *Cycle, src, dst []int32) []int32
}

// BatchScorer is BatchFilter's counterpart for a ScorePlugin.
type BatchScorer interface {
	ScorePlugin
	// ScoreBatch adds weight times the score of the node in slots[i] to
	// scores[i], for every i. It must agree with Score node by node.
	ScoreBatch(c *Cycle, slots []int32, weight int64, scores []int64)
}

// MaxScore is the highest score a ScorePlugin returns.
const MaxScore = 100
