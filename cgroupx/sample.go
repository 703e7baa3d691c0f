package cgroupx

import (
	"context"
	"errors"
)

// Sample is everything cgroupx reads about a container at one moment, in
// one call: what a metrics collector takes every interval.
type Sample struct {
	Memory Meminfo
	CPUs   CPUs
	CPU    CPUTime
	Tasks  TaskCount
	// IO is nil when the host has no block I/O controller.
	IO []DeviceIO
	// Pressure is nil when the cgroup has no cgroup2 group or PSI is off.
	Pressure *Pressure
}

// Sample reads memory, CPU limits and time, the task count, block I/O and
// pressure. Parts the host lacks (I/O controller, PSI) are left nil; any
// other error fails the whole sample.
func (c *Cgroup) Sample(ctx context.Context) (Sample, error) {
	var s Sample
	var err error
	if s.Memory, err = c.Meminfo(ctx); err != nil {
		return Sample{}, err
	}
	if s.CPUs, err = c.CPUs(ctx); err != nil {
		return Sample{}, err
	}
	if s.CPU, err = c.CPUTime(ctx); err != nil {
		return Sample{}, err
	}
	if s.Tasks, err = c.CountTasks(ctx); err != nil {
		return Sample{}, err
	}
	if s.IO, err = c.IO(ctx); err != nil && !errors.Is(err, ErrUnsupported) {
		return Sample{}, err
	}
	p, err := c.Pressure(ctx)
	switch {
	case err == nil:
		s.Pressure = &p
	case !errors.Is(err, ErrUnsupported):
		return Sample{}, err
	}
	return s, nil
}
