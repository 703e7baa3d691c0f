package netvlan

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/shoalkit/shoal/netvlan/ovsmodel"
)

// addRequest is one port waiting to be inserted.
type addRequest struct {
	bridge  ovsmodel.Bridge // UUID and Name
	iface   ovsmodel.Interface
	port    ovsmodel.Port
	ingress uint64 // bits/s: a linux-htb QoS with one queue goes with the port

	idx   [4]int // result indexes of the Interface, Port, QoS, Queue inserts (-1: none)
	qos   string // the new QoS row
	queue string // the new Queue row

	promote chan struct{} // closed when this request's caller must lead
	done    chan struct{} // closed when err and portUUID are set
	err     error
	uuid    string // the new Port row
	iuuid   string // the new Interface row
}

// ref returns what deleteRows needs to remove the request's rows.
func (r *addRequest) ref() portRef {
	ref := portRef{uuid: r.uuid, bridge: r.bridge.UUID}
	if r.iuuid != "" {
		ref.ifaces = []string{r.iuuid}
	}
	if r.qos != "" {
		ref.qos, ref.queues = r.qos, []string{r.queue}
	}
	return ref
}

// committer batches concurrent port insertions into shared transactions
// (group commit). ovs-vswitchd reconfigures a bridge once per transaction,
// whatever its size, so under load one transaction of twenty ports costs
// about what one port costs.
//
// There is no goroutine of its own: the first caller to find no
// transaction in flight leads; it commits everything queued (up to
// MaxBatch per transaction) until its own request is done, then hands the
// lead to the oldest waiting request.
type committer struct {
	s     *Switch
	mu    sync.Mutex
	busy  bool
	queue []*addRequest
	names atomic.Uint64 // for named UUIDs unique within a transaction
	txns  atomic.Uint64 // transactions run, for tests and Stats
}

// add inserts r's Interface and Port and adds the Port to r's bridge.
func (c *committer) add(ctx context.Context, r *addRequest) error {
	r.promote, r.done = make(chan struct{}), make(chan struct{})
	c.mu.Lock()
	c.queue = append(c.queue, r)
	lead := !c.busy
	c.busy = true
	c.mu.Unlock()
	if !lead {
		select {
		case <-r.done:
			return r.err
		case <-r.promote:
		case <-ctx.Done():
			if c.withdraw(r) {
				return wrapError(ErrUnavailable, ctx.Err(), "waiting to commit port %s", r.port.Name)
			}
			// Already taken into a transaction or promoted: see it through.
			select {
			case <-r.done:
				return r.err
			case <-r.promote:
			}
		}
	}
	// Leading: the transaction must not fail because this caller's context
	// ends while it commits other callers' ports.
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.s.cfg.ReadyTimeout)
	defer cancel()
	for {
		c.mu.Lock()
		n := min(len(c.queue), c.s.cfg.MaxBatch)
		batch := append([]*addRequest(nil), c.queue[:n]...)
		c.queue = append(c.queue[:0:0], c.queue[n:]...)
		c.mu.Unlock()
		c.commit(tctx, batch)
		select {
		case <-r.done:
			c.mu.Lock()
			if len(c.queue) > 0 {
				close(c.queue[0].promote)
			} else {
				c.busy = false
			}
			c.mu.Unlock()
			return r.err
		default:
		}
	}
}

// withdraw takes r out of the queue if it is still waiting there.
func (c *committer) withdraw(r *addRequest) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, q := range c.queue {
		if q == r {
			select {
			case <-r.promote:
				return false
			default:
			}
			c.queue = append(c.queue[:i], c.queue[i+1:]...)
			return true
		}
	}
	return false
}

// commit runs one transaction for batch. When it fails and holds more than
// one request, each request is retried alone, so one bad row fails only
// its own caller.
func (c *committer) commit(ctx context.Context, batch []*addRequest) {
	if len(batch) == 0 {
		return
	}
	ops, mutIdx, err := c.ops(batch)
	if err == nil {
		var res []ovsdb.OperationResult
		c.txns.Add(1)
		res, _, err = c.s.transact(ctx, ops)
		if err == nil {
			c.finish(batch, res, mutIdx)
			return
		}
	}
	if len(batch) > 1 {
		for _, r := range batch {
			c.commit(ctx, []*addRequest{r})
		}
		return
	}
	r := batch[0]
	r.err = c.explain(r, err)
	close(r.done)
}

// ops builds the transaction: for each request an Interface and a Port
// insert, then one mutation per bridge adding all its new ports. mutIdx maps
// a bridge UUID to the index of its mutation.
func (c *committer) ops(batch []*addRequest) ([]ovsdb.Operation, map[string]int, error) {
	var ops []ovsdb.Operation
	newPorts := map[string][]string{}
	var order []string
	for _, r := range batch {
		n := strconv.FormatUint(c.names.Add(1), 10)
		// Named UUIDs must be identifiers: a letter, then letters, digits, '_'.
		iface, port := r.iface, r.port
		iface.UUID = "iface_" + n
		port.UUID = "port_" + n
		port.Interfaces = []string{iface.UUID}
		models := []model.Model{&iface, &port}
		r.idx = [4]int{len(ops), len(ops) + 1, -1, -1}
		if r.ingress > 0 {
			queue, qos := htbRows(r.ingress, c.s.cfg.Owner, n)
			port.QOS = &qos.UUID
			models = append(models, &qos, &queue)
			r.idx[2], r.idx[3] = len(ops)+2, len(ops)+3
		}
		o, err := c.s.ovs.Create(models...)
		if err != nil {
			return nil, nil, err
		}
		ops = append(ops, o...)
		if _, ok := newPorts[r.bridge.UUID]; !ok {
			order = append(order, r.bridge.UUID)
		}
		newPorts[r.bridge.UUID] = append(newPorts[r.bridge.UUID], port.UUID)
	}
	mutIdx := map[string]int{}
	for _, uuid := range order {
		br := &ovsmodel.Bridge{UUID: uuid}
		o, err := c.s.ovs.Where(br).Mutate(br, model.Mutation{Field: &br.Ports, Mutator: ovsdb.MutateOperationInsert, Value: newPorts[uuid]})
		if err != nil {
			return nil, nil, err
		}
		mutIdx[uuid] = len(ops)
		ops = append(ops, o...)
	}
	return ops, mutIdx, nil
}

// finish hands each request its Port UUID, or ErrNotFound when its bridge
// was gone (the mutation matched no row, and OVSDB dropped the unreferenced
// Port and Interface).
func (c *committer) finish(batch []*addRequest, res []ovsdb.OperationResult, mutIdx map[string]int) {
	for _, r := range batch {
		if res[mutIdx[r.bridge.UUID]].Count == 0 {
			r.err = newError(ErrNotFound, "bridge %q does not exist", r.bridge.Name)
		} else {
			r.iuuid = res[r.idx[0]].UUID.GoUUID
			r.uuid = res[r.idx[1]].UUID.GoUUID
			if r.idx[2] >= 0 {
				r.qos, r.queue = res[r.idx[2]].UUID.GoUUID, res[r.idx[3]].UUID.GoUUID
			}
		}
		close(r.done)
	}
}

// explain turns a failed single-port transaction into an error that names
// the problem.
func (c *committer) explain(r *addRequest, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "constraint violation") || strings.Contains(msg, "identical values") {
		return wrapError(ErrConflict, err, "port %s (container %s interface %s) already exists",
			r.port.Name, r.port.ExternalIDs[keyContainer], r.port.ExternalIDs[keyIfName])
	}
	return err
}
