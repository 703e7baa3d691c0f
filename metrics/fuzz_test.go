package metrics

import "testing"

// The parsers read files from outside (/proc, /sys, cgroup files): none
// may panic, whatever the input.

func FuzzParseNetDev(f *testing.F) {
	f.Add([]byte("h\nh\n  lo: 1 2 3 4 0 0 0 0 5 6 7 8 0 0 0 0\neth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"))
	f.Add([]byte("h\nh\n:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := parseNetDev(b, nil, nil)
		if err == nil && len(out) > maxInterfaces {
			t.Fatalf("%d interfaces", len(out))
		}
	})
}

func FuzzParseSockstat(f *testing.F) {
	f.Add([]byte("sockets: used 20\nTCP: inuse 4 orphan 0 tw 7 alloc 4 mem 0\n"), true)
	f.Add([]byte("TCP6: inuse 1\n"), false)
	f.Fuzz(func(t *testing.T, b []byte, v4 bool) {
		proto := "TCP6:"
		if v4 {
			proto = "TCP:"
		}
		_, _ = parseSockstat(b, proto)
	})
}

func FuzzParseKV(f *testing.F) {
	f.Add([]byte("nr_periods 10\nnr_throttled 4\nthrottled_time 5000\n"))
	f.Add([]byte("low 0\nhigh 0\nmax 5\noom 3\noom_kill 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseCPUStat(b)
		_, _ = parseOOM("memory.events", b)
		_, _ = parseUintFile("pids.max", b)
	})
}

func FuzzParseNodeFiles(f *testing.F) {
	f.Add([]byte("cpu  100 2 30 400 5 0 6 0 0 0\ncpu0 1 2 3 4\n"))
	f.Add([]byte("0.52 0.58 0.59 2/315 12345\n"))
	f.Add([]byte("5363\t0\t2466293\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = parseProcStatCPU(b)
		_, _ = parseLoadavg(b)
		_, _ = parseFileNr(b)
	})
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add([]byte("36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"))
	f.Add([]byte("25 1 0:23 / /proc rw - proc proc rw\n40 25 0:52 / /x rw shared:3 - fuse hung rw,user_id=0\n"))
	f.Add([]byte("1 2 3 4 5 6 -\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := parseMountinfo(b)
		if err == nil && len(out) > maxMounts {
			t.Fatalf("%d mounts", len(out))
		}
	})
}
