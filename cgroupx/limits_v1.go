package cgroupx

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/shoalkit/shoal/internal/decimal"
)

// v1Knobs are the limit files of the v1 hierarchies: cpu.shares and the
// CFS pair, memory.limit_in_bytes and memory.memsw.limit_in_bytes, the
// blkio weight and throttle files.
type v1Knobs struct{}

func (v1Knobs) setCpuset(dir string, l Limits) error  { return setCpuset(dir, l) }
func (v1Knobs) getCpuset(dir string, l *Limits) error { return getCpuset(dir, l) }
func (v1Knobs) setPids(dir string, l Limits) error    { return setPids(dir, l) }
func (v1Knobs) getPids(dir string, l *Limits) error   { return getPids(dir, l) }

func (v1Knobs) setCPU(dir string, l Limits) error {
	if l.CPUShares != nil {
		if err := writeKnob(dir, "cpu.shares", strconv.FormatUint(*l.CPUShares, 10)); err != nil {
			return err
		}
	}
	// The period first: a quota is checked against the current period.
	if l.CPUPeriod != nil {
		if err := writeKnob(dir, "cpu.cfs_period_us", strconv.FormatUint(*l.CPUPeriod, 10)); err != nil {
			return err
		}
	}
	if l.CPUQuota != nil {
		return writeKnob(dir, "cpu.cfs_quota_us", strconv.FormatInt(*l.CPUQuota, 10))
	}
	return nil
}

func (v1Knobs) getCPU(dir string, l *Limits) error {
	if err := readUnsigned(dir, "cpu.shares", &l.CPUShares); err != nil {
		return err
	}
	b, ok, err := readKnob(dir, "cpu.cfs_quota_us")
	if err != nil {
		return err
	}
	if ok {
		q, okq := atoi(b)
		if !okq {
			return newError(ErrInvalid, "cpu.cfs_quota_us %q", b)
		}
		l.CPUQuota = &q
	}
	return readUnsigned(dir, "cpu.cfs_period_us", &l.CPUPeriod)
}

// setMemory orders the writes so that the pair is valid after each one:
// v1 refuses memory above memory+swap, so when the memory write is refused
// memory+swap is written first.
func (v1Knobs) setMemory(dir string, l Limits) error {
	setMem := func() error {
		if l.Memory == nil {
			return nil
		}
		return writeKnob(dir, "memory.limit_in_bytes", limitString(*l.Memory, false))
	}
	setSwap := func() error {
		if l.MemorySwap == nil {
			return nil
		}
		return writeKnob(dir, "memory.memsw.limit_in_bytes", limitString(*l.MemorySwap, false))
	}
	if err := setMem(); err != nil {
		if !errors.Is(err, ErrInvalid) || l.MemorySwap == nil {
			return err
		}
		if err := setSwap(); err != nil {
			return err
		}
		return setMem()
	}
	return setSwap()
}

func (v1Knobs) getMemory(dir string, l *Limits) error {
	if err := readSigned(dir, "memory.limit_in_bytes", &l.Memory); err != nil {
		return err
	}
	return readSigned(dir, "memory.memsw.limit_in_bytes", &l.MemorySwap)
}

// v1WeightFiles are the weight files: the CFQ one, then the BFQ one.
func v1WeightFiles() []string { return []string{"blkio.weight", "blkio.bfq.weight"} }

func (v1Knobs) setIO(dir string, l Limits) error {
	if l.BlkioWeight != nil {
		if err := setWeight(dir, v1WeightFiles(), strconv.FormatUint(uint64(*l.BlkioWeight), 10)); err != nil {
			return err
		}
	}
	for _, th := range throttleFiles(&l) {
		for _, r := range *th.rates {
			b := strconv.AppendUint(nil, uint64(r.Major), 10)
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(r.Minor), 10)
			b = append(b, ' ')
			b = strconv.AppendUint(b, r.Rate, 10)
			if err := writeKnob(dir, th.v1, string(b)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (v1Knobs) getIO(dir string, l *Limits) error {
	if err := readWeight(dir, v1WeightFiles(), &l.BlkioWeight); err != nil {
		return err
	}
	for _, th := range throttleFiles(l) {
		b, ok, err := readKnob(dir, th.v1)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		var perr error
		eachLine(b, func(line []byte) bool {
			dev, rate, found := bytes.Cut(line, []byte(" "))
			maj, mnr, okd := parseDev(dev)
			r, okr := decimal.Uint(rate)
			if !found || !okd || !okr {
				perr = newError(ErrInvalid, "%s line %q", th.v1, line)
				return false
			}
			*th.rates = append(*th.rates, DeviceRate{Major: maj, Minor: mnr, Rate: r})
			return true
		})
		if perr != nil {
			return perr
		}
	}
	return nil
}
