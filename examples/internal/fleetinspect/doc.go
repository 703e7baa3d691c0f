// Package fleetinspect wires fleet inspection (package inspect) into the
// platform through etcd, the config center:
//
//	inspect/spec              inspect.Spec (JSON)   controller only (PutSpec): versioned, validated, at most MaxSpecBytes
//	inspect/report            Report                the inspector (RunInspector): the last round, at most MaxReportBytes
//	inspect/fix               FixOrder              controller or shoalctl (PutFixOrder): fixes to run once
//	inspect/fix-result        FixResult             the inspector: what the last order did
//	inspect/gossip/NODE       "host:port"           each member, under a lease: where to join the gossip cluster
//
// (all under state.Prefix). An agent (Run) is a serf member that answers
// inspections against the spec it watches in etcd and serves stage two
// and fixes over HTTP; the inspector (Inspector.Run) joins the same
// cluster, runs a round on every spec change and every Interval, fetches
// the details of failures, writes the report, and carries out fix orders,
// signing each fix request with the fix key the agents share. Members find
// each other through their gossip keys: no join list to configure.
//
// In the node agent, one call:
//
//	go fleetinspect.Run(ctx, etcd, "node-1", map[string]string{"zone": "a"}, fleetinspect.AgentConfig{
//		Gossip:   inspect.NodeConfig{BindAddr: "10.0.0.1", Keys: keys},
//		HTTPAddr: "10.0.0.1:7947",
//		Agent:    inspect.AgentConfig{FixKey: fixKey},
//	})
//
// In the controller (the config center and the inspector):
//
//	fleetinspect.PutSpec(ctx, etcd, spec)
//	in, _ := fleetinspect.NewInspector(etcd, fleetinspect.InspectorConfig{Name: "controller", FixKey: fixKey, ...})
//	go in.Run(ctx)
//	rep, _ := fleetinspect.GetReport(ctx, etcd)
package fleetinspect
