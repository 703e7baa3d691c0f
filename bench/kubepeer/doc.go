// Package kubepeer runs sched beside kube-scheduler in one process, on the
// same fleet and the same requests, so that BENCHMARKS.md can quote ratios
// measured in the same run instead of kube-scheduler's published
// whole-system minimums.
//
// kube-scheduler (k8s.io/kubernetes, default profile) runs on a fake
// clientset: the fleet's nodes and background pods are the clientset's
// initial objects, listed once by the informers; the stream's pods are
// handed to the scheduling queue and their bindings answered and counted
// by a reactor, so no pod is created through the clientset (its watch
// channel would overflow). sched gets the same nodes, node by node, in an
// Inventory, and the same background as allocations.
//
// The comparison is fair by construction: exact against exact (sched Exact,
// kube percentageOfNodesToScore 100), sampled against sampled (sched
// Sampled, kube adaptive), each side's default profile (least-allocated
// and balanced scoring on both), the same GOMAXPROCS, CPU time beside wall
// time, the nodes evaluated per placement beside every rate. The output
// says what each side's time includes. Every placement of both sides goes
// through schedtest's Checker, and the balance of the fleet afterwards is
// reported side by side. A request one side cannot express (at most two
// per rack: kube's required anti-affinity means one) is reported as such
// and run on sched alone, never translated into something else.
//
// This is a module of its own (the SDK never requires Kubernetes) and
// stays out of make test; make bench-kubepeer runs it:
//
//	cd bench/kubepeer && go run ./cmd/kubepeer            # 10,000 nodes, a few minutes
//	cd bench/kubepeer && go test ./...                    # 500 nodes, both sides checked
//
// From Go:
//
//	rep, err := kubepeer.Run(ctx, kubepeer.DefaultConfig())
//	if rep != nil {
//		rep.Write(os.Stdout)
//	}
package kubepeer
