// Package controller is the platform's control plane: apps placed with
// sched over the nodes the agents report, their addresses allocated from
// cluster-wide VLAN pools, their instances written to etcd for the agents
// (the contract in package state), kept at their replica count, rolled out
// batch by batch with a roll back on failure, moved off lost and drained
// nodes, and every step recorded in the message-tracking list under the
// request id of the API call that caused it.
//
// Every controller follows etcd with one watch into a cache and answers
// reads from it; one of them leads (an etcd election) and only the leader
// changes anything. Every write of the leader is an etcd transaction that
// holds only while its leadership does, so a deposed leader cannot write;
// a new leader reads everything and converges, so a leader change or a
// restart loses nothing and duplicates nothing.
//
// A change and what it causes are written together: a deploy writes the app,
// its instances, their addresses (one key per address, created only if
// absent: no two instances ever share one) and their events in as few
// transactions as etcd's operation limit allows (Config.MaxTxnOps), and
// undoes the earlier ones when a later one fails.
//
//	c, err := controller.New(controller.Config{Etcd: cli, Advertise: "127.0.0.1:7000"})
//	if err != nil { ... }
//	go c.Run(ctx)
//	http.Serve(l, c.Handler()) // every call needs the cluster's bearer token
//
// Every controller measures every instance once per ActivityInterval
// (Config.Metrics: by default the agents' /metrics, one scrape per node a
// pass); the autoscale loop, showback, the busiest/idlest ranking and each
// app's history all read that one pass.
//
// The API (JSON; errors are Problems with a stable Code):
//
//	GET    /healthz                         no token
//	GET    /v1/apps                          POST /v1/apps[?wait=60s]   deploy
//	GET    /v1/apps/NAME  PUT (update, rolling)  DELETE
//	POST   /v1/apps/NAME/scale {"replicas":N}[?wait=]
//	GET    /v1/apps/NAME/endpoints[?watch=1] ready instances (SSE with watch)
//	GET    /v1/apps/NAME/proposal            a scaling decision awaiting approval
//	POST   /v1/apps/NAME/proposal/approve    apply it
//	GET    /v1/apps/NAME/history             replicas, ready, CPU, memory, TPS over the last 30 min
//	GET    /v1/instances[?app=&node=]        GET /v1/instances/ID
//	POST   /v1/instances/ID/resize           resources, in place
//	POST   /v1/instances/ID/migrate          {"node": N}: commit, push, remove, recreate on N
//	GET    /v1/nodes                         POST /v1/nodes/NAME/{cordon,drain,uncordon}
//	GET    /v1/events[?request_id=&instance=&app=&node=&since=&limit=]
//	GET    /v1/events/stream[?same filters] SSE
//	GET    /v1/networks                      PUT /v1/networks/VLAN  (address pool)
//	GET    /v1/quotas                        PUT /v1/quotas/TEAM
//	GET    /v1/usage                         allocated and used core- and GiB-hours by team and app
//	GET    /v1/inspection                    the last inspection round and fix result
//	PUT    /v1/inspection/spec               the fleet's desired state (inspect.Spec)
//	POST   /v1/inspection/fix                run the spec's fixes on failed members
//	GET    /v1/ranking[?by=cpu|memory&n=10]  the busiest and idlest instances, apps and nodes
//	GET    /v1/incidents                     alertcorr's open and resolved incidents (Config.AlertsURL)
//	GET    /v1/leader
package controller
