package agent

import (
	"context"
	"encoding/json"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/examples/internal/state"
)

func clientWithPrefix() clientv3.OpOption { return clientv3.WithPrefix() }

// report changes an instance's status with edit; an id the agent does not
// manage gets an entry holding only its status (a malformed desired value).
func (a *Agent) report(_ context.Context, id string, edit func(*state.Status)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	inst := a.insts[id]
	if inst == nil {
		inst = &instance{spec: state.Instance{ID: id}, status: state.Status{ID: id, Node: a.cfg.Node.Name}}
		a.insts[id] = inst
	}
	if inst.running {
		// What runs keeps running: the bad value is only reported.
		st := inst.status
		edit(&st)
		inst.status.Reason, inst.status.Field, inst.status.Message = st.Reason, st.Field, st.Message
		return
	}
	edit(&inst.status)
}

// writeStatuses writes every status that changed since it was last written.
func (a *Agent) writeStatuses(ctx context.Context) {
	a.mu.Lock()
	var todo []state.Status
	for _, inst := range a.insts {
		if inst.status.Phase == state.Running && !inst.running {
			inst.status.Phase = state.CrashLoop
		}
		st := inst.status
		st.UpdatedAt = inst.written.UpdatedAt
		if st != inst.written || inst.written.UpdatedAt.IsZero() {
			todo = append(todo, inst.status)
		}
	}
	a.mu.Unlock()
	for _, st := range todo {
		st.UpdatedAt = a.cfg.Now()
		val, err := json.Marshal(st)
		if err != nil {
			continue
		}
		if _, err := a.cfg.Etcd.Put(ctx, state.StatusKey(a.cfg.Node.Name, st.ID), string(val)); err != nil {
			a.log.Warn("writing status", "id", st.ID, "err", err)
			continue // written again on the next pass
		}
		a.mu.Lock()
		if inst := a.insts[st.ID]; inst != nil {
			inst.written = st
		}
		a.mu.Unlock()
	}
}

// event records one line of the message-tracking list for want.
func (a *Agent) event(ctx context.Context, want state.Instance, kind string, prio state.Priority, reason, msg string) {
	a.log.Info(kind, "id", want.ID, "request_id", want.RequestID, "reason", reason, "msg", msg)
	_ = a.events.Write(ctx, state.Event{ // best effort: the status is the record
		RequestID: want.RequestID, Kind: kind, Priority: prio, App: want.App,
		Instance: want.ID, Node: a.cfg.Node.Name, Reason: reason, Message: msg,
	})
}
