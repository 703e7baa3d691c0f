// Package decimal parses the unsigned decimal numbers of /proc, /sys and
// cgroup files without allocating, for cgroupx and metrics alike.
package decimal

// Uint parses a decimal unsigned integer with no sign or spaces; it reports
// false for an empty, non-decimal or overflowing value.
func Uint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (^uint64(0)-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
