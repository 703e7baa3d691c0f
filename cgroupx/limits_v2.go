package cgroupx

import (
	"path/filepath"
	"strconv"
)

// v2Knobs are the limit files of cgroup2: cpu.weight and cpu.max,
// memory.max and memory.swap.max, io.weight and io.max. Limits keeps v1
// terms, converted here.
type v2Knobs struct{}

func (v2Knobs) setCpuset(dir string, l Limits) error  { return setCpuset(dir, l) }
func (v2Knobs) getCpuset(dir string, l *Limits) error { return getCpuset(dir, l) }
func (v2Knobs) setPids(dir string, l Limits) error    { return setPids(dir, l) }
func (v2Knobs) getPids(dir string, l *Limits) error   { return getPids(dir, l) }

// setCPU writes cpu.max whole: the half of "quota period" that l leaves
// nil keeps its current value.
func (v2Knobs) setCPU(dir string, l Limits) error {
	if l.CPUShares != nil {
		if err := writeKnob(dir, "cpu.weight", strconv.FormatUint(SharesToWeight(*l.CPUShares), 10)); err != nil {
			return err
		}
	}
	if l.CPUQuota == nil && l.CPUPeriod == nil {
		return nil
	}
	b, err := readInto(filepath.Join(dir, "cpu.max"), nil)
	if err != nil {
		return knobError("cpu.max", err)
	}
	q, p, err := parseCPUMax(b)
	if err != nil {
		return err
	}
	if l.CPUQuota != nil {
		q = *l.CPUQuota
	}
	if l.CPUPeriod != nil {
		p = *l.CPUPeriod
	}
	return writeKnob(dir, "cpu.max", limitString(q, true)+" "+strconv.FormatUint(p, 10))
}

func (v2Knobs) getCPU(dir string, l *Limits) error {
	b, ok, err := readKnob(dir, "cpu.max")
	if err != nil {
		return err
	}
	if ok {
		q, p, err := parseCPUMax(b)
		if err != nil {
			return err
		}
		l.CPUQuota, l.CPUPeriod = &q, &p
	}
	var weight *uint64
	if err := readUnsigned(dir, "cpu.weight", &weight); err != nil || weight == nil {
		return err
	}
	// No exact inverse exists; report the weight's shares equivalent.
	shares := 2 + ((max(*weight, 1)-1)*262142+9998)/9999
	l.CPUShares = &shares
	return nil
}

// setMemory converts memory+swap to memory.swap.max, the swap alone.
func (v2Knobs) setMemory(dir string, l Limits) error {
	if l.Memory != nil {
		if err := writeKnob(dir, "memory.max", limitString(*l.Memory, true)); err != nil {
			return err
		}
	}
	if l.MemorySwap == nil {
		return nil
	}
	mem := int64(-1)
	if l.Memory != nil {
		mem = *l.Memory
	} else if b, err := readInto(filepath.Join(dir, "memory.max"), nil); err == nil {
		if v, err := parseLimit(b); err == nil && v != Unlimited {
			mem = int64(v) //nolint:gosec // below v1Unlimited
		}
	}
	swap := int64(-1)
	if *l.MemorySwap >= 0 {
		if mem < 0 || *l.MemorySwap < mem {
			return newError(ErrInvalid, "memory+swap %d below memory %d", *l.MemorySwap, mem)
		}
		swap = *l.MemorySwap - mem
	}
	return writeKnob(dir, "memory.swap.max", limitString(swap, true))
}

func (v2Knobs) getMemory(dir string, l *Limits) error {
	if err := readSigned(dir, "memory.max", &l.Memory); err != nil || l.Memory == nil {
		return err
	}
	var swap *int64
	if err := readSigned(dir, "memory.swap.max", &swap); err != nil || swap == nil {
		return err
	}
	total := int64(-1)
	if *swap >= 0 && *l.Memory >= 0 {
		total = *l.Memory + *swap
	}
	l.MemorySwap = &total
	return nil
}

// v2WeightFiles are the weight files: the CFQ one, then the BFQ one.
func v2WeightFiles() []string { return []string{"io.weight", "io.bfq.weight"} }

func (v2Knobs) setIO(dir string, l Limits) error {
	if l.BlkioWeight != nil {
		if err := setWeight(dir, v2WeightFiles(), "default "+strconv.FormatUint(uint64(*l.BlkioWeight), 10)); err != nil {
			return err
		}
	}
	for _, th := range throttleFiles(&l) {
		for _, r := range *th.rates {
			// A rate of 0 removes the limit: "max".
			rate := "max"
			if r.Rate > 0 {
				rate = strconv.FormatUint(r.Rate, 10)
			}
			line := strconv.FormatUint(uint64(r.Major), 10) + ":" + strconv.FormatUint(uint64(r.Minor), 10) + " " + th.v2 + "=" + rate
			if err := writeKnob(dir, "io.max", line); err != nil {
				return err
			}
		}
	}
	return nil
}

func (v2Knobs) getIO(dir string, l *Limits) error {
	if err := readWeight(dir, v2WeightFiles(), &l.BlkioWeight); err != nil {
		return err
	}
	b, ok, err := readKnob(dir, "io.max")
	if err != nil || !ok {
		return err
	}
	return parseIOMax(b, l)
}
