package controller

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shoalkit/shoal/examples/internal/state"
)

// predistribute puts image into the stores of nodes before instances are
// written there: every node is asked at once, node i taking the blobs from
// node i-1 as they arrive (a chain through the agents' blob servers, so
// the registry sends each blob about once). A node that fails is logged
// and left to pull at create time. Simulated nodes are skipped. c.mu is
// held.
func (c *Controller) predistribute(ctx context.Context, requestID, app, image string, nodes []string) {
	c.cache.mu.RLock()
	tok := c.cache.token
	var addrs, names []string
	for _, n := range nodes {
		if node := c.cache.nodes[n]; node != nil && node.Version != state.SimulatedVersion && node.Addr != "" {
			addrs, names = append(addrs, node.Addr), append(names, n)
		}
	}
	c.cache.mu.RUnlock()
	if len(addrs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.PredistributeTimeout)
	defer cancel()
	start := c.cfg.Now()
	g := errgroup.Group{}
	g.SetLimit(64)
	failed := make([]string, len(addrs))
	for i, addr := range addrs {
		peer := ""
		if i > 0 {
			peer = "http://" + addrs[i-1]
		}
		g.Go(func() error {
			if err := c.pull(ctx, tok, addr, image, peer); err != nil {
				failed[i] = names[i] + ": " + err.Error()
			}
			return nil
		})
	}
	_ = g.Wait()
	failed = slices.DeleteFunc(failed, func(s string) bool { return s == "" })
	took := c.cfg.Now().Sub(start).Round(time.Millisecond)
	if len(failed) > 0 {
		c.event(ctx, requestID, state.Event{
			Kind: "PredistributeFailed", Priority: state.Warning, App: app,
			Message: fmt.Sprintf("%s on %d of %d node(s) after %v (they pull at create): %s", image, len(failed), len(addrs), took, strings.Join(failed, "; ")),
		})
		return
	}
	c.event(ctx, requestID, state.Event{
		Kind: "ImagePredistributed", Priority: state.Info, App: app,
		Message: fmt.Sprintf("%s on %d node(s) in %v", image, len(addrs), took),
	})
}

func (c *Controller) pull(ctx context.Context, tok, addr, image, peer string) error {
	body := fmt.Sprintf(`{"image":%q,"peer":%q,"wait":"30s"}`, image, peer)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/images/pull", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.cfg.AgentClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}

// nodesOf returns the distinct nodes of instances, in order.
func nodesOf(ins []state.Instance) []string {
	var out []string
	for _, in := range ins {
		if !slices.Contains(out, in.Node) {
			out = append(out, in.Node)
		}
	}
	return out
}
