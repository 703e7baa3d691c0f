package inspect

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// compare reports whether observed op want holds.
func compare(observed string, op Op, want string) bool {
	observed, want = strings.TrimSpace(observed), strings.TrimSpace(want)
	switch op {
	case OpNe:
		return observed != want
	case OpMatch:
		re, err := regexp.Compile(want)
		return err == nil && re.MatchString(observed)
	case OpPrefix:
		return strings.HasPrefix(observed, want)
	case OpGe, OpLe:
		c, ok := order(observed, want)
		if !ok {
			return false
		}
		if op == OpGe {
			return c >= 0
		}
		return c <= 0
	}
	return observed == want
}

// order compares a and b as sizes or numbers ("10GiB", "15%", "4096") when
// both parse as such, else as dotted versions ("5.10.0-28").
func order(a, b string) (int, bool) {
	if x, ok := parseSize(a); ok {
		if y, ok := parseSize(b); ok {
			switch {
			case x < y:
				return -1, true
			case x > y:
				return 1, true
			}
			return 0, true
		}
	}
	return compareVersions(a, b), true
}

// unitMultiplier returns what a size unit multiplies by.
func unitMultiplier(unit string) (float64, bool) {
	switch unit {
	case "", "%":
		return 1, true
	case "k", "kb":
		return 1e3, true
	case "m", "mb":
		return 1e6, true
	case "g", "gb":
		return 1e9, true
	case "t", "tb":
		return 1e12, true
	case "kib":
		return 1 << 10, true
	case "mib":
		return 1 << 20, true
	case "gib":
		return 1 << 30, true
	case "tib":
		return 1 << 40, true
	}
	return 0, false
}

func parseSize(s string) (float64, bool) {
	i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.ToLower(s[i:])
	}
	mult, ok := unitMultiplier(unit)
	if !ok || num == "" {
		return 0, false
	}
	v, err := strconv.ParseFloat(num, 64)
	return v * mult, err == nil
}

// compareVersions compares dotted versions piecewise: runs of digits as
// numbers, everything else as text ("5.10.0-28" < "5.10.0-100").
func compareVersions(a, b string) int {
	pa, pb := versionParts(a), versionParts(b)
	for i := range min(len(pa), len(pb)) {
		x, errx := strconv.ParseUint(pa[i], 10, 64)
		y, erry := strconv.ParseUint(pb[i], 10, 64)
		switch {
		case errx == nil && erry == nil && x != y:
			if x < y {
				return -1
			}
			return 1
		case (errx != nil || erry != nil) && pa[i] != pb[i]:
			return strings.Compare(pa[i], pb[i])
		}
	}
	switch {
	case len(pa) < len(pb):
		return -1
	case len(pa) > len(pb):
		return 1
	}
	return 0
}

func versionParts(s string) []string {
	var parts []string
	cur := strings.Builder{}
	digit := false
	flush := func() {
		if cur.Len() > 0 {
			parts = append(parts, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch {
		case r == '.' || r == '-' || r == '_' || r == '+' || r == ':' || r == '~':
			flush()
		case unicode.IsDigit(r) != digit:
			flush()
			digit = unicode.IsDigit(r)
			cur.WriteRune(r)
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return parts
}
