package cgroupx

// Restore sets the averages to avg, as a previous process saved them from
// Load, so that a restarted server goes on from where its predecessor was
// instead of from zero. The intervals missed while no process kept the
// averages are the caller's to fold (Fold with n > 1 decays them as the
// kernel's calc_load_n does after idling).
func (t *LoadTracker) Restore(avg LoadAvg) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.avg = avg
	t.avg.Load1 = float64(avg.Avenrun[0]) / Fixed1
	t.avg.Load5 = float64(avg.Avenrun[1]) / Fixed1
	t.avg.Load15 = float64(avg.Avenrun[2]) / Fixed1
}
