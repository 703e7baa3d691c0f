package cgroupx

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
)

// Fuzz tests for the parsers of /proc and /sys files that have no exported
// reader form. Each must return ErrInvalid or a value, never panic.

func checkInvalid(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v does not wrap ErrInvalid", err)
	}
}

func FuzzParseMemStat(f *testing.F) {
	f.Add([]byte("total_cache 100\ntotal_rss 200\nhierarchical_memory_limit 9223372036854771712\n"), true)
	f.Add([]byte("anon 1\nfile 2\nslab_reclaimable 3\n"), false)
	f.Fuzz(func(t *testing.T, in []byte, v1 bool) {
		_, err := parseMemStat(in, v1)
		checkInvalid(t, err)
	})
}

func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"max\n", "-1", "9223372036854771712\n", "268435456"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		_, err := parseLimit(in)
		checkInvalid(t, err)
	})
}

func FuzzParseCPUMax(f *testing.F) {
	f.Add([]byte("max 100000\n"))
	f.Add([]byte("50000 100000\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		q, p, err := parseCPUMax(in)
		checkInvalid(t, err)
		if err == nil && (p == 0 || q < -1) {
			t.Fatalf("accepted quota %d period %d", q, p)
		}
	})
}

func FuzzParseCPUStat(f *testing.F) {
	f.Add([]byte("usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 0\n"), false)
	f.Add([]byte("user 100\nsystem 40\n"), true)
	f.Fuzz(func(t *testing.T, in []byte, acct bool) {
		var ct CPUTime
		var err error
		if acct {
			ct, err = parseCPUAcctStat(in)
		} else {
			ct, err = parseCPUStatV2(in)
		}
		checkInvalid(t, err)
		if err == nil && (ct.Total < 0 || ct.User < 0 || ct.System < 0) {
			t.Fatalf("negative %+v", ct)
		}
	})
}

func FuzzParsePressure(f *testing.F) {
	f.Add([]byte("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParsePressure(bytes.NewReader(in))
		checkInvalid(t, err)
		if err == nil && (p.Some.Total < 0 || p.Full.Total < 0) {
			t.Fatalf("negative %+v", p)
		}
	})
}

func FuzzParseIOStat(f *testing.F) {
	f.Add([]byte("8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		_, err := ParseIOStat(bytes.NewReader(in))
		checkInvalid(t, err)
	})
}

func FuzzParseBlkioStat(f *testing.F) {
	f.Add([]byte("8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		_, err := ParseBlkioStat(bytes.NewReader(in))
		checkInvalid(t, err)
	})
}

func FuzzParseIOMax(f *testing.F) {
	f.Add([]byte("8:0 rbps=1048576 wbps=max riops=max wiops=300\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var l Limits
		checkInvalid(t, parseIOMax(in, &l))
	})
}

func FuzzParseWeight(f *testing.F) {
	f.Add([]byte("default 100\n8:0 200\n"))
	f.Add([]byte("500\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if w := parseWeight(in); w != nil && *w > 10000 {
			t.Fatalf("weight %d", *w)
		}
	})
}

// FuzzLeaderStat checks the scan's fast path against the full parser: where
// ParseProcStat accepts a line, the state and thread count agree.
func FuzzLeaderStat(f *testing.F) {
	f.Add([]byte("10 (a) R 1 10 10 0 -1 0 0 0 0 0 0 0 0 0 20 0 3 0 100 0 0\n"))
	f.Add([]byte("12 (a b) c) D 1 12 12 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 500 100 10 0\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		state, threads, ok := leaderStat(in)
		st, err := parseProcStat(in)
		checkInvalid(t, err)
		if err != nil {
			return
		}
		if !ok || state != st.State || (threads != 0 && threads != st.NumThreads) {
			t.Fatalf("fast path %c/%d/%v, parser %c/%d", state, threads, ok, st.State, st.NumThreads)
		}
	})
}

// FuzzRenderersOverHostFiles feeds arbitrary host files to the renderers
// that pass host lines through: they return an error or output, never
// panic.
func FuzzRenderersOverHostFiles(f *testing.F) {
	f.Add([]byte("processor\t: 0\nmodel name\t: x\n\nprocessor\t: 1\n\n"))
	f.Add([]byte("MemTotal:       24684084 kB\nHugePages_Total:       0\n"))
	f.Add([]byte("cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 0\n"))
	f.Fuzz(func(t *testing.T, host []byte) {
		var out bytes.Buffer
		checkInvalid(t, WriteCPUInfo(&out, bytes.NewReader(host), CPUs{Effective: 2, Cpuset: []int{0, 1}}))
		if err := WriteMeminfo(&out, Meminfo{MemTotal: 1 << 30}, bytes.NewReader(host)); err != nil && !errors.Is(err, bufio.ErrTooLong) {
			t.Fatal(err)
		}
		if err := WriteStat(&out, StatCPU{CPUs: 2}, bytes.NewReader(host)); err != nil && !errors.Is(err, bufio.ErrTooLong) {
			t.Fatal(err)
		}
	})
}

func FuzzParseThrottling(f *testing.F) {
	f.Add([]byte("nr_periods 40\nnr_throttled 7\nthrottled_usec 1500\n"), true)
	f.Add([]byte("nr_periods 40\nnr_throttled 7\nthrottled_time 1500000\n"), false)
	f.Fuzz(func(t *testing.T, b []byte, v2 bool) {
		_, err := parseThrottling(b, v2)
		if err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("error %v is neither ErrInvalid nor ErrUnsupported", err)
		}
	})
}

func FuzzParseCounters(f *testing.F) {
	f.Add([]byte("low 0\nhigh 0\nmax 12\noom 2\noom_kill 3\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var max, kill uint64
		checkInvalid(t, parseCounters(b, "memory.events", map[string]*uint64{"max": &max, "oom_kill": &kill}))
	})
}
