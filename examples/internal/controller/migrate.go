package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/examples/internal/state"
)

// MigrateRequest is the body of POST /v1/instances/ID/migrate.
type MigrateRequest struct {
	// Node is where the instance goes; empty lets the scheduler choose
	// among the others.
	Node string `json:"node,omitempty"`
	// KeepVolume leaves the data volume on the old node (where it stays
	// until removed explicitly) instead of carrying it in the snapshot.
	KeepVolume bool `json:"keep_volume,omitempty"`
}

// snapshotTimeout bounds an agent's commit and push of an instance.
const snapshotTimeout = 10 * time.Minute

// Migrate moves an instance to another node the way JD's cold migration
// did: its node's agent commits it (its writable layer and, unless kept,
// its data volume) and pushes it as an image; the instance is removed
// there and, once its old container is gone, made again on the target
// from that image with the same id and address. It holds the controller's
// change lock throughout (the snapshot's push included).
func (c *Controller) Migrate(ctx context.Context, requestID, id string, req MigrateRequest) (*state.Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.leader()
	if err != nil {
		return nil, err
	}
	c.cache.mu.RLock()
	cur, app := c.cache.desired[id], (*state.App)(nil)
	var src *state.Node
	if cur != nil {
		app, src = c.cache.apps[cur.App], c.cache.nodes[cur.Node]
	}
	tok := c.cache.token
	c.cache.mu.RUnlock()
	switch {
	case cur == nil:
		return nil, newError(ErrNotFound, "instance %q", id)
	case app == nil:
		return nil, newError(ErrConflict, "instance %q belongs to no app the controller keeps", id)
	case src == nil:
		return nil, newError(ErrUnavailable, "node %s of %s does not report: its instance cannot be committed (a lost node's instances are rescheduled instead)", cur.Node, id)
	case req.Node == cur.Node:
		return nil, &fieldError{field: "node", err: newError(ErrInvalid, "node: %s already runs %s", req.Node, id)}
	}
	target := req.Node
	if target == "" {
		plan, err := c.plan(app, 1, requestID, cur.Node)
		if err != nil {
			return nil, err
		}
		target = plan[0].Node
	} else if !c.nodeTakes(target) {
		return nil, &fieldError{field: "node", err: newError(ErrInvalid, "node: %s does not report or is cordoned", target)}
	}
	ref := snapshotRef(cur.Image, id, c.cfg.Now())
	image, err := c.snapshot(ctx, tok, src.Addr, id, ref, !req.KeepVolume && cur.Volume != nil)
	if err != nil {
		return nil, err
	}
	c.event(ctx, requestID, state.Event{Kind: "InstanceSnapshotted", Priority: state.Info, App: cur.App, Instance: id, Node: cur.Node, Message: image})
	c.predistribute(ctx, requestID, cur.App, image, []string{target})

	// Off the old node first, so that the address is never on two.
	del := item{ops: []clientv3.Op{clientv3.OpDelete(state.DesiredKey(cur.Node, id))}}
	if err := c.commit(ctx, t, []item{del}); err != nil {
		return nil, err
	}
	if !c.waitStatusGone(ctx, cur.Node, id, 60*time.Second) {
		c.event(ctx, requestID, state.Event{
			Kind: "MigrateSlowStop", Priority: state.Warning, App: cur.App, Instance: id, Node: cur.Node,
			Message: "the old container did not report its removal within 60 s; going on",
		})
	}
	in := *cur
	in.Node, in.Image, in.RequestID = target, image, requestID
	in.Generation++
	put := item{cmps: []clientv3.Cmp{absent(state.DesiredKey(target, id))}, ops: []clientv3.Op{putJSON(state.DesiredKey(target, id), &in)}}
	c.withEvent(ctx, &put, requestID, state.Event{
		Kind: "InstanceMigrated", Priority: state.Info, App: cur.App, Instance: id, Node: target,
		Message: fmt.Sprintf("from %s as %s", cur.Node, image),
	})
	if err := c.commit(ctx, t, []item{put}); err != nil {
		back := item{ops: []clientv3.Op{putJSON(state.DesiredKey(cur.Node, id), cur)}}
		if uerr := c.commit(ctx, t, []item{back}); uerr != nil {
			c.log.Error("migration: putting the instance back failed; the next reconcile places a replacement", "id", id, "err", uerr)
		}
		return nil, err
	}
	return &in, nil
}

// nodeTakes reports whether a node reports and is not cordoned.
func (c *Controller) nodeTakes(node string) bool {
	c.cache.mu.RLock()
	defer c.cache.mu.RUnlock()
	return c.cache.nodes[node] != nil && c.cache.cordon[node] == ""
}

// snapshotRef names an instance's snapshot in its image's repository.
func snapshotRef(image, id string, now time.Time) string {
	repo, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return fmt.Sprintf("%s:snap-%s-%d", repo, id, now.Unix())
}

// snapshot asks an agent to commit and push an instance; it returns the
// pushed reference pinned by digest.
func (c *Controller) snapshot(ctx context.Context, tok, addr, id, ref string, volume bool) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"image": ref, "volume": volume})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/instances/"+id+"/snapshot", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	cl := &http.Client{Transport: c.cfg.AgentClient.Transport}
	resp, err := cl.Do(req)
	if err != nil {
		return "", wrapError(ErrUnavailable, err, "snapshot of %s", id)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", newError(ErrUnavailable, "snapshot of %s: %s: %.200s", id, resp.Status, strings.TrimSpace(string(raw)))
	}
	var out struct {
		Image  string `json:"image"`
		Digest string `json:"digest"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.Image == "" {
		return "", newError(ErrUnavailable, "snapshot of %s: an answer without an image: %.200s", id, raw)
	}
	if out.Digest != "" {
		return out.Image + "@" + out.Digest, nil
	}
	return out.Image, nil
}

// waitStatusGone waits until node's agent has removed id's status.
func (c *Controller) waitStatusGone(ctx context.Context, node, id string, limit time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		changed := c.cache.wait()
		c.cache.mu.RLock()
		st := c.cache.status[id]
		gone := st == nil || st.Node != node
		c.cache.mu.RUnlock()
		if gone {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		}
	}
}
