package agent

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shoalkit/shoal/examples/internal/state"
)

// reconcile brings the node's containers to the desired state once.
func (a *Agent) reconcile(ctx context.Context) {
	a.mu.Lock()
	desired, bad, loaded := maps.Clone(a.desired), maps.Clone(a.bad), a.loaded
	a.mu.Unlock()

	for id, err := range bad {
		// A malformed value never removes what runs: it is reported.
		a.report(ctx, id, func(st *state.Status) { failStatus(st, err) })
	}
	// Instances are independent: each goroutine of the group acts on one
	// id, and nothing else touches an instance until the group is done
	// (applyExit, writeStatuses and the switch reconcile run on the loop's
	// goroutine between passes), so the loop stays the one owner of
	// instance state while creations overlap.
	var g errgroup.Group
	g.SetLimit(a.cfg.Parallel)
	for id, want := range desired {
		g.Go(func() error {
			if ctx.Err() == nil {
				a.converge(ctx, id, want)
			}
			return nil
		})
	}
	_ = g.Wait()
	if ctx.Err() != nil {
		return
	}
	if loaded {
		a.releaseOrphans(ctx, desired, bad)
		a.reconcileNetwork(ctx)
		for _, id := range a.ids() {
			_, isDesired := desired[id]
			_, isBad := bad[id]
			if !isDesired && !isBad {
				g.Go(func() error { a.delete(ctx, id); return nil })
			}
		}
		_ = g.Wait()
	}
	a.rotateLogs()
	a.writeStatuses(ctx)
}

// rotateLogs keeps every container's log within the runtime's size: a
// container that prints without end fills one file and its .1, not the disk.
func (a *Agent) rotateLogs() {
	for _, id := range a.ids() {
		if _, err := a.cfg.Runtime.RotateLog(id); err != nil {
			a.log.Warn("rotating a log", "id", id, "err", err)
		}
	}
}

// releaseOrphans releases the rootfs, volume mount and namespace of
// instances the store still holds but the agent no longer knows: deleted
// while the agent was down, or left by a crash between Prepare and the
// container's start.
func (a *Agent) releaseOrphans(ctx context.Context, desired map[string]state.Instance, bad map[string]error) {
	ids, err := a.cfg.Store.Containers(ctx)
	if err != nil {
		a.log.Warn("listing prepared rootfs", "err", err)
		return
	}
	for _, id := range ids {
		_, isDesired := desired[id]
		_, isBad := bad[id]
		if isDesired || isBad || a.get(id) != nil {
			continue
		}
		if _, err := a.cfg.Runtime.Get(id); err == nil {
			continue // a container of someone else's making: not ours to touch
		}
		err := a.cfg.Store.Release(ctx, id)
		if err == nil {
			err = a.unmountVolume(id)
		}
		if err == nil {
			err = delNetns(ctx, id)
		}
		if err != nil {
			a.log.Warn("releasing an orphaned rootfs", "id", id, "err", err)
			continue
		}
		a.log.Info("released an orphaned rootfs", "id", id)
	}
}

// reconcileNetwork puts the switch back to the fat instances' ports: a
// retagged port is fixed, one a switch restart lost is added back.
func (a *Agent) reconcileNetwork(ctx context.Context) {
	if a.cfg.Network == nil {
		return
	}
	var want []Port
	a.mu.Lock()
	for _, inst := range a.insts {
		if inst.netns != "" && inst.spec.Network != nil {
			want = append(want, Port{ID: inst.spec.ID, Netns: inst.netns, Network: *inst.spec.Network})
		}
	}
	a.mu.Unlock()
	changed, err := a.cfg.Network.Reconcile(ctx, want)
	if err != nil {
		a.log.Warn("reconciling the switch", "err", err)
	}
	if changed > 0 {
		a.log.Info("switch reconciled", "changed", changed)
	}
}

// ids are the managed instances' ids.
func (a *Agent) ids() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.insts))
	for id := range a.insts {
		out = append(out, id)
	}
	return out
}

func (a *Agent) get(id string) *instance {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.insts[id]
}

// converge acts on one desired instance.
func (a *Agent) converge(ctx context.Context, id string, want state.Instance) {
	inst := a.get(id)
	switch {
	case inst == nil || inst.status.Phase == state.Failed && inst.spec.Generation != want.Generation:
		if inst != nil {
			a.forget(id)
		}
		a.event(ctx, want, "Creating", state.Info, "", "")
		inst, err := a.create(ctx, want)
		a.mu.Lock()
		a.insts[id] = inst
		a.mu.Unlock()
		if err != nil {
			failStatus(&inst.status, err)
			a.event(ctx, want, "CreateFailed", state.Error, inst.status.Reason, err.Error())
			return
		}
		a.event(ctx, want, "Started", state.Info, "", "")
	case inst.status.Phase == state.Failed:
		// Same generation that failed: wait for a new one.
	case inst.spec.Generation != want.Generation:
		a.update(ctx, inst, want)
	case !inst.running && !want.Stopped:
		now := a.cfg.Now()
		if now.Before(inst.nextStart) {
			inst.status.Phase = state.CrashLoop
			return
		}
		inst.backoff = min(max(2*inst.backoff, time.Second), a.cfg.BackoffMax)
		inst.nextStart = now.Add(inst.backoff)
		inst.status.Restarts++
		if err := a.restart(ctx, inst); err != nil {
			failStatus(&inst.status, err)
			inst.status.Phase = state.CrashLoop
			return
		}
		a.event(ctx, want, "Restarted", state.Warning, "Exited", inst.status.Message)
	case inst.running && want.Stopped:
		if err := a.cfg.Runtime.Stop(ctx, id, a.cfg.StopGrace); err == nil {
			inst.status.Phase = state.Stopped
		}
	case inst.running && time.Since(inst.status.StartedAt) > inst.backoff*2:
		inst.backoff = 0 // ran long enough: the next exit restarts at once
	}
}

// update moves a running instance to a new generation: in place when only
// its resources changed, else by making it again (its volume stays).
func (a *Agent) update(ctx context.Context, inst *instance, want state.Instance) {
	old := inst.spec
	old.Resources, old.Generation, old.RequestID = want.Resources, want.Generation, want.RequestID
	if reflect.DeepEqual(old, want) && inst.running {
		if err := a.cfg.Runtime.Resize(want.ID, want.Resources); err != nil {
			a.event(ctx, want, "ResizeFailed", state.Error, "ResizeFailed", err.Error())
			return
		}
		inst.spec = want
		inst.status.Generation, inst.status.RequestID = want.Generation, want.RequestID
		a.event(ctx, want, "Resized", state.Info, "", "")
		return
	}
	a.delete(ctx, want.ID)
	a.converge(ctx, want.ID, want)
}

// delete removes an instance that is no longer desired, or is made again.
func (a *Agent) delete(ctx context.Context, id string) {
	inst := a.get(id)
	if inst == nil {
		return
	}
	if err := a.remove(ctx, inst); err != nil {
		a.log.Warn("removing", "id", id, "err", err)
		a.event(ctx, inst.spec, "RemoveFailed", state.Error, "RemoveFailed", err.Error())
		return
	}
	a.forget(id)
	if _, err := a.cfg.Etcd.Delete(ctx, state.StatusKey(a.cfg.Node.Name, id)); err != nil {
		a.log.Warn("deleting status", "id", id, "err", err)
	}
	a.event(ctx, inst.spec, "Removed", state.Info, "", "")
}

func (a *Agent) forget(id string) {
	a.mu.Lock()
	delete(a.insts, id)
	a.mu.Unlock()
}

// newStatus is a status for want in phase.
func (a *Agent) newStatus(want state.Instance, phase state.Phase) state.Status {
	st := state.Status{ID: want.ID, App: want.App, Node: a.cfg.Node.Name, Generation: want.Generation, RequestID: want.RequestID, Phase: phase}
	if want.Network != nil {
		st.IP = want.Network.IP.Addr().String()
	}
	return st
}

// failStatus records why an instance could not be made.
func failStatus(st *state.Status, err error) {
	st.Phase, st.Reason, st.Field, st.Message, st.PID = state.Failed, "InvalidSpec", "", err.Error(), 0
	var f *failure
	if errors.As(err, &f) {
		st.Reason, st.Field = f.reason, f.field
	}
	var fe *state.FieldError
	if errors.As(err, &fe) {
		st.Field = fe.Field
	}
}
