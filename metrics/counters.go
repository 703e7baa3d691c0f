package metrics

import "time"

// counterKey names one cumulative counter of a container: a field, and
// the interface or device it belongs to ("" for the container's own).
type counterKey struct {
	field uint8
	name  string
}

// The counters of a ContainerSample.
const (
	cCPUUsage uint8 = iota
	cCPUUser
	cCPUSystem
	cPeriods
	cThrottledPeriods
	cThrottled
	cOOMKills
	cOOMEvents
	cRxBytes
	cRxPackets
	cRxErrors
	cRxDropped
	cTxBytes
	cTxPackets
	cTxErrors
	cTxDropped
	cReadBytes
	cWriteBytes
	cReadOps
	cWriteOps
)

// maxCounters bounds the counters kept per container (interfaces and
// devices come from outside); past it, new names are passed through raw.
const maxCounters = 8192

// counterState keeps cumulative counters monotonic across resets. For each
// counter it remembers the last raw value read and a base added to every
// raw value. A raw value below the last one is a reset (the container
// restarted, an interface was made again): the last value joins the base.
// A restart detected otherwise (the cgroup made again) moves every last
// value into the base at once, so counters that happen to have grown past
// their old values are not mistaken for continuations.
type counterState struct {
	// own are the container's own counters (cCPUUsage..cOOMEvents), kept
	// apart from the per-interface and per-device ones: they are read at
	// every sample and a map lookup each would cost more than the rest.
	own        [cOOMEvents + 1]counter
	last, base map[counterKey]uint64
	restarted  bool
}

// counter is one of a container's own counters.
type counter struct{ last, base uint64 }

// restart records that the container was made again: the next adjust adds
// every last value to its base.
func (st *counterState) restart() { st.restarted = true }

// adjust rewrites s's counters to their monotonic values and counts a
// reset in *resets when one is seen that restart did not announce.
func (st *counterState) adjust(s *ContainerSample, resets *uint64) {
	if st.last == nil {
		st.last, st.base = map[counterKey]uint64{}, map[counterKey]uint64{}
	}
	if st.restarted {
		for k, v := range st.last {
			st.base[k] += v
			st.last[k] = 0
		}
		for i := range st.own {
			st.own[i].base += st.own[i].last
			st.own[i].last = 0
		}
		st.restarted = false
	}
	reset := false
	u := func(field uint8, name string, v *uint64) {
		if name == "" && int(field) < len(st.own) {
			c := &st.own[field]
			if *v < c.last {
				c.base += c.last
				reset = true
			}
			c.last = *v
			*v += c.base
			return
		}
		k := counterKey{field, name}
		last, seen := st.last[k]
		if !seen && len(st.last) >= maxCounters {
			return
		}
		if *v < last {
			st.base[k] += last
			reset = true
		}
		st.last[k] = *v
		*v += st.base[k]
	}
	d := func(field uint8, v *time.Duration) {
		x := uint64(max(*v, 0))
		u(field, "", &x)
		*v = time.Duration(x)
	}
	d(cCPUUsage, &s.CPU.Usage)
	d(cCPUUser, &s.CPU.User)
	d(cCPUSystem, &s.CPU.System)
	u(cPeriods, "", &s.CPU.Periods)
	u(cThrottledPeriods, "", &s.CPU.ThrottledPeriods)
	d(cThrottled, &s.CPU.Throttled)
	u(cOOMKills, "", &s.Memory.OOMKills)
	u(cOOMEvents, "", &s.Memory.OOMEvents)
	for i := range s.Net {
		n := &s.Net[i]
		u(cRxBytes, n.Name, &n.RxBytes)
		u(cRxPackets, n.Name, &n.RxPackets)
		u(cRxErrors, n.Name, &n.RxErrors)
		u(cRxDropped, n.Name, &n.RxDropped)
		u(cTxBytes, n.Name, &n.TxBytes)
		u(cTxPackets, n.Name, &n.TxPackets)
		u(cTxErrors, n.Name, &n.TxErrors)
		u(cTxDropped, n.Name, &n.TxDropped)
	}
	for i := range s.IO {
		d := &s.IO[i]
		u(cReadBytes, d.Device, &d.ReadBytes)
		u(cWriteBytes, d.Device, &d.WriteBytes)
		u(cReadOps, d.Device, &d.ReadOps)
		u(cWriteOps, d.Device, &d.WriteOps)
	}
	if reset {
		*resets++
	}
}
