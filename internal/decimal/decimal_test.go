package decimal_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/shoalkit/shoal/internal/decimal"
)

func TestUint(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"42", 42, true},
		{"18446744073709551615", 1<<64 - 1, true},
		{"18446744073709551616", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{" 1", 0, false},
		{"1x", 0, false},
		{"000000000000000000001", 0, false},
	} {
		if got, ok := decimal.Uint([]byte(tt.in)); got != tt.want || ok != tt.ok {
			t.Errorf("Uint(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzUint(f *testing.F) {
	f.Add([]byte("123"))
	f.Add([]byte("18446744073709551616"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decimal.Uint(b)
		want, err := strconv.ParseUint(string(b), 10, 64)
		strict := len(b) > 0 && len(b) <= 20 && b[0] != '+'
		if ok != (err == nil && strict) || (ok && got != want) {
			t.Fatalf("Uint(%q) = %d, %v; strconv says %d, %v", b, got, ok, want, err)
		}
	})
}

func ExampleUint() {
	n, ok := decimal.Uint([]byte("4096"))
	fmt.Println(n, ok)
	// Output: 4096 true
}
