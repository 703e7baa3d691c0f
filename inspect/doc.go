// Package inspect is fleet inspection over gossip (hashicorp/serf): every
// node checks itself against a desired-state Spec and answers an
// inspection query with a verdict of a few bytes; an Inspector, on any
// node, accounts for every member each round — passed, failed (which
// checks), stale (another spec version), dead (serf says failed), left,
// unreachable (alive by its peers, not reachable from the inspector) or
// silent — then fetches the details of failures over HTTP (stage two)
// and, on an authenticated request, runs the spec's fixes.
//
// The parts:
//
//   - Spec: versioned checks selected by node tags (sysctl, kernel, OS,
//     package and binary versions, file hashes, processes, mounts, disk
//     free, hardware facts, kernel-log patterns, custom commands), each
//     with an optional Fix. Its version and hash are gossiped in SpecTag.
//   - Agent: runs the checks of the spec it holds, in parallel, each with
//     a timeout, results cached per spec version; answers with a verdict
//     (EncodeVerdict: ≤ 64 bytes for 500 checks); serves stage two and
//     fixes over HTTP (Handler).
//   - Node: the serf member (protocol 5, so replies can be relayed) that
//     answers queries with its Agent, and pings members for peers.
//   - Inspector: Round, Details, Remediate. In a large fleet
//     (InspectorConfig.GroupSize) a round's first attempt goes through
//     collectors: peers that each query one group of members (ShardTag)
//     and return its verdicts in one HTTP reply (CollectPath), so that the
//     inspector handles a reply per collector instead of two packets per
//     member; the silent ones it asks itself. The inspector's own member,
//     and every inspector-only member (InspectorTag), are left out of
//     reports; those that left are pruned from the cluster.
//
// A query names a spec version (and optionally check indices), never a
// command: agents run only checks of the spec the config center gave
// them. Gossip is encrypted with serf's keyring (NodeConfig.Keys); fixes
// need an HMAC-signed FixRequest (AgentConfig.FixKey).
//
// The spec source is the caller's: a daemon that watches its config
// center calls Node.SetSpec on each change and passes the same Spec to
// Inspector.Round.
//
//	agent, _ := inspect.NewAgent(inspect.AgentConfig{Name: "node-1", Tags: map[string]string{"zone": "a"}})
//	node, _ := inspect.NewNode(inspect.NodeConfig{BindAddr: "10.0.0.1", Keys: keys, DetailsAddr: "10.0.0.1:7947"}, agent)
//	go http.ListenAndServe("10.0.0.1:7947", agent.Handler()) // stage two, fixes, collection
//	go node.Run(ctx)
//	node.Join(ctx, "10.0.0.2:7946")
//	node.SetSpec(spec)
//	in, _ := inspect.NewInspector(node, inspect.InspectorConfig{})
//	report, _ := in.Round(ctx, spec)
//	in.Details(ctx, report)
//	report.WriteText(os.Stdout)
package inspect
