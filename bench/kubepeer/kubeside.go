package kubepeer

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/profile"
)

// decision is one pod's scheduling cycle as kube-scheduler reported it.
type decision struct {
	pod       string
	node      string
	evaluated int // nodes filtered (and beyond) for this pod
	feasible  int // of those, the ones that fit
}

// kubeScheduler is kube-scheduler's default profile running in this process
// on a fake clientset: nodes and background pods are the clientset's
// initial objects, so the informers list them once (no watch traffic);
// the stream's pods go straight to the scheduling queue, and a reactor
// answers and counts their bindings, so no pod object is ever created.
type kubeScheduler struct {
	sched       *scheduler.Scheduler
	factory     informers.SharedInformerFactory
	broadcaster events.EventBroadcaster
	cancel      context.CancelFunc
	stopped     chan struct{}

	mu        sync.Mutex
	want      int
	decisions []decision
	bound     map[string]string // pod → node, from the bind reactor
	failures  []string
	settled   chan struct{} // closed when every pod is bound or failed
}

// startKube builds the fleet node by node into a fake clientset and starts
// kube-scheduler on it in mode m, returning once its cache holds the
// fleet.
func startKube(ctx context.Context, f *Fleet, m Mode) (*kubeScheduler, error) {
	objs := make([]runtime.Object, 0, len(f.Nodes)+len(f.Background))
	for _, n := range f.Nodes {
		objs = append(objs, NodeFor(n))
	}
	for _, b := range f.Background {
		objs = append(objs, BackgroundPod(b))
	}
	client := fake.NewClientset(objs...)
	k := &kubeScheduler{stopped: make(chan struct{})}
	client.PrependReactor("create", "pods", k.bindReactor)

	ctx, k.cancel = context.WithCancel(quiet(ctx))
	k.factory = informers.NewSharedInformerFactory(client, 0)
	// Events are generated as in a real scheduler but go to no sink.
	k.broadcaster = events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()})
	pct := m.kubePercentage()
	s, err := scheduler.New(ctx, client, k.factory, nil, profile.NewRecorderFactory(k.broadcaster),
		scheduler.WithPercentageOfNodesToScore(&pct))
	if err != nil {
		k.cancel()
		k.broadcaster.Shutdown()
		return nil, wrapError(ErrUnavailable, err, "kube-scheduler %s", m)
	}
	k.sched = s
	schedulePod := s.SchedulePod
	s.SchedulePod = func(ctx context.Context, f framework.Framework, state fwk.CycleState, pi *framework.QueuedPodInfo) (scheduler.ScheduleResult, error) {
		res, err := schedulePod(ctx, f, state, pi)
		if err == nil {
			k.mu.Lock()
			k.decisions = append(k.decisions, decision{pod: pi.Pod.Name, node: res.SuggestedHost, evaluated: res.EvaluatedNodes, feasible: res.FeasibleNodes})
			k.mu.Unlock()
		}
		return res, err
	}
	onFailure := s.FailureHandler
	s.FailureHandler = func(ctx context.Context, f framework.Framework, pi *framework.QueuedPodInfo, st *fwk.Status, ni *fwk.NominatingInfo, start time.Time) {
		k.mu.Lock()
		k.failures = append(k.failures, pi.Pod.Name+": "+st.Message())
		k.settle()
		k.mu.Unlock()
		onFailure(ctx, f, pi, st, ni, start)
	}
	k.factory.Start(ctx.Done())
	k.factory.WaitForCacheSync(ctx.Done())
	if err := s.WaitForHandlersSync(ctx); err != nil {
		k.cancel()
		k.factory.Shutdown()
		k.broadcaster.Shutdown()
		return nil, wrapError(ErrUnavailable, err, "kube-scheduler %s: informers", m)
	}
	go func() {
		s.Run(ctx)
		close(k.stopped)
	}()
	return k, nil
}

// quiet gives kube-scheduler a logger that discards: failures are counted
// by the failure handler instead.
func quiet(ctx context.Context) context.Context {
	return klog.NewContext(ctx, logr.Discard())
}

// bindReactor answers the binding of a pod (the default binder's only API
// call) and records it.
func (k *kubeScheduler) bindReactor(action k8stesting.Action) (bool, runtime.Object, error) {
	if action.GetSubresource() != "binding" {
		return false, nil, nil
	}
	b, ok := action.(k8stesting.CreateAction).GetObject().(*v1.Binding)
	if !ok {
		return false, nil, nil
	}
	k.mu.Lock()
	k.bound[b.Name] = b.Target.Name
	k.settle()
	k.mu.Unlock()
	return true, b, nil
}

// settle closes settled once every pod of the segment is bound or failed;
// k.mu is held.
func (k *kubeScheduler) settle() {
	if k.settled != nil && len(k.bound)+len(k.failures) == k.want {
		close(k.settled)
		k.settled = nil
	}
}

// kubeRun is what kube-scheduler did with one segment of the stream.
type kubeRun struct {
	wall, cpu time.Duration
	decisions []decision // in scheduling order
	bound     map[string]string
	failures  []string
}

// place hands pods to the scheduling queue and waits until each is bound
// or has failed. The time covers the queue, the scheduling cycles
// (PreFilter, Filter, Score on the snapshot), assume, and the binding
// cycles (Permit, PreBind, Bind through the fake clientset's reactor,
// the Scheduled event).
func (k *kubeScheduler) place(ctx context.Context, pods []*v1.Pod, timeout time.Duration) (*kubeRun, error) {
	ctx = quiet(ctx)
	settled := make(chan struct{})
	k.mu.Lock()
	k.want, k.settled = len(pods), settled
	k.decisions, k.bound, k.failures = make([]decision, 0, len(pods)), make(map[string]string, len(pods)), nil
	k.mu.Unlock()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	cpu0 := processCPU()
	t0 := time.Now()
	for _, p := range pods {
		k.sched.SchedulingQueue.Add(ctx, p)
	}
	select {
	case <-settled:
	case <-timer.C:
		k.mu.Lock()
		n := len(k.bound)
		k.mu.Unlock()
		return nil, newError(ErrUnavailable, "kube-scheduler bound %d of %d pods in %v", n, len(pods), timeout)
	}
	run := &kubeRun{wall: time.Since(t0), cpu: processCPU() - cpu0}
	k.mu.Lock()
	defer k.mu.Unlock()
	run.decisions, run.bound, run.failures = k.decisions, k.bound, k.failures
	return run, nil
}

// stop ends the scheduler and its informers.
func (k *kubeScheduler) stop() {
	k.cancel()
	<-k.stopped
	k.factory.Shutdown()
	k.broadcaster.Shutdown()
}
