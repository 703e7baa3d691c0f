// Package storm generates alert storms over a synthetic topology, with the
// ground truth of which fault raised each alert, and scores incidents
// against it: compression, top-1 root accuracy, pairwise precision, recall
// and F1, false merges and splits. It is for alertcorr's tests and
// benchmarks, and for anyone tuning a correlation.
//
//	s, err := storm.Generate(storm.Config{Hosts: 1000, ContainersPerHost: 100, Apps: 500,
//		AppFaults: 2, HostFaults: 5, SwitchFaults: 1, Noise: 50, Missing: 0.05, Seed: 1})
//	tp := alertcorr.NewTopology()
//	_ = tp.Load(ctx, s)
//	// ingest s.Alerts into an engine with tp, advance past the window, then
//	score := s.Score(engine.Incidents())
package storm
