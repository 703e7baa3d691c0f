package inspect

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestVerdictRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		version uint64
		n       int
		v       Verdict
		maxLen  int
	}{
		{"all pass", 7, 500, Verdict{}, 1},
		{"one failure", 7, 500, Verdict{Failed: []int{499}}, 4},
		{"first check", 1, 1, Verdict{Failed: []int{0}}, 2},
		{"every other of 500", 123456, 500, Verdict{Failed: evens(500)}, 64},
		{"all 500 failed", 3, 500, Verdict{Failed: seq(500)}, 64},
		{"stale", 9, 500, Verdict{Stale: true, Held: 8}, 2},
		{"stale, none held", 9, 500, Verdict{Stale: true}, 2},
		{"max checks", 1 << 40, MaxChecks, Verdict{Failed: seq(MaxChecks)}, MaxVerdictBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := EncodeVerdict(tt.version, tt.v)
			if len(b) > tt.maxLen {
				t.Errorf("verdict is %d bytes, want at most %d", len(b), tt.maxLen)
			}
			got, err := DecodeVerdict(b, tt.version, tt.n)
			if err != nil {
				t.Fatalf("DecodeVerdict(% x): %v", b, err)
			}
			if got.Stale != tt.v.Stale || got.Held != tt.v.Held || !slices.Equal(got.Failed, tt.v.Failed) {
				t.Errorf("round trip = %+v, want %+v", got, tt.v)
			}
		})
	}
}

// TestVerdict500Random checks the size bound on random failure sets of a
// 500-check spec at versions of every size.
func TestVerdict500Random(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var failed []int
		p := r.Float64()
		for i := range 500 {
			if r.Float64() < p {
				failed = append(failed, i)
			}
		}
		version := r.Uint64() | 1
		b := EncodeVerdict(version, Verdict{Failed: failed})
		if len(b) > 64 {
			t.Fatalf("%d failures of 500: %d bytes", len(failed), len(b))
		}
		got, err := DecodeVerdict(b, version, 500)
		if err != nil || !slices.Equal(got.Failed, failed) {
			t.Fatalf("round trip of %d failures: %v, %v", len(failed), got.Failed, err)
		}
	}
}

func TestDecodeVerdictRefuses(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		version uint64
		n       int
	}{
		{"empty", nil, 1, 10},
		{"oversize", make([]byte, MaxVerdictBytes+1), 1, 10},
		{"codec 0", []byte{0x01}, 1, 10},
		{"wrong echo", EncodeVerdict(2, Verdict{}), 3, 10},
		{"pass with body", []byte{0x41, 0x00}, 1, 10},
		{"bitmap beyond n", EncodeVerdict(1, Verdict{Failed: []int{12}}), 1, 10},
		{"bitmap trailing zero", []byte{0x51, 0x01, 0x00}, 1, 16},
		{"bitmap too long", []byte{0x51, 0x00, 0x01}, 1, 8},
		{"list beyond n", EncodeVerdict(1, Verdict{Failed: []int{900}}), 1, 10},
		{"list count too big", []byte{0x61, 0x0b}, 1, 10},
		{"list truncated", []byte{0x61, 0x02, 0x00}, 1, 10},
		{"list trailing", []byte{0x61, 0x01, 0x00, 0x00}, 1, 10},
		{"stale names queried version", EncodeVerdict(0, Verdict{Stale: true, Held: 5}), 5, 10},
		{"stale truncated", []byte{0x71, 0x81}, 1, 10},
		{"stale echo mismatch", []byte{0x72, 0x01}, 5, 10},
		{"n out of range", EncodeVerdict(1, Verdict{}), 1, MaxChecks + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := DecodeVerdict(tt.b, tt.version, tt.n); err == nil {
				t.Errorf("DecodeVerdict(% x) = %+v, want an error", tt.b, v)
			}
		})
	}
}

func FuzzDecodeVerdict(f *testing.F) {
	f.Add(EncodeVerdict(5, Verdict{Failed: []int{1, 9, 200}}), uint64(5), 500)
	f.Add(EncodeVerdict(5, Verdict{Failed: seq(40)}), uint64(5), 40)
	f.Add(EncodeVerdict(5, Verdict{Stale: true, Held: 4}), uint64(5), 3)
	f.Add([]byte{0x41}, uint64(1), 0)
	f.Fuzz(func(t *testing.T, b []byte, version uint64, n int) {
		v, err := DecodeVerdict(b, version, n)
		if err != nil {
			return
		}
		for i, x := range v.Failed {
			if x < 0 || x >= n || (i > 0 && x <= v.Failed[i-1]) {
				t.Fatalf("decoded failures %v not ascending below %d", v.Failed, n)
			}
		}
		again, err := DecodeVerdict(EncodeVerdict(version, v), version, n)
		if err != nil || again.Stale != v.Stale || again.Held != v.Held || !slices.Equal(again.Failed, v.Failed) {
			t.Fatalf("re-encoding %+v gave %+v, %v", v, again, err)
		}
	})
}

func TestQueryPayload(t *testing.T) {
	for _, tt := range []struct {
		version uint64
		only    []int
	}{{1, nil}, {77, []int{0, 3, 9}}} {
		v, only, err := decodeQuery(encodeQuery(tt.version, tt.only))
		if err != nil || v != tt.version || !slices.Equal(only, tt.only) {
			t.Errorf("query %d %v: got %d %v %v", tt.version, tt.only, v, only, err)
		}
	}
	for _, bad := range []string{"", "0", "x", "1:", "1:a", "1:-1", "1:99999", "echo hi"} {
		if _, _, err := decodeQuery([]byte(bad)); err == nil {
			t.Errorf("decodeQuery(%q) accepted", bad)
		}
	}
}

func FuzzDecodeQuery(f *testing.F) {
	f.Add([]byte("7:1,2,3"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, only, err := decodeQuery(b)
		if err != nil {
			return
		}
		if v == 0 || !slices.IsSorted(only) {
			t.Fatalf("decodeQuery(%q) = %d %v", b, v, only)
		}
	})
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func evens(n int) []int {
	var out []int
	for i := 0; i < n; i += 2 {
		out = append(out, i)
	}
	return out
}

func TestChunks(t *testing.T) {
	var names []string
	for i := range 200 {
		names = append(names, "node-"+string(rune('a'+i%26))+"-"+strings.Repeat("x", i%7))
	}
	got := chunks(names)
	var all []string
	for _, c := range got {
		size := 0
		for _, n := range c {
			size += len(n) + 8
		}
		if size > filterBudget {
			t.Errorf("chunk of %d bytes over %d", size, filterBudget)
		}
		all = append(all, c...)
	}
	if !slices.Equal(all, names) || len(got) < 2 {
		t.Errorf("%d chunks lose or reorder names", len(got))
	}
}
