package sched

// SetUncached makes s place with the plain per-node loop, which keeps no
// cache, so that tests can compare the fast loops with it.
func SetUncached(s *Scheduler) { s.uncached = true }
