package inspect

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// MaxVerdictBytes is the largest verdict DecodeVerdict accepts: serf's
// default limit on a query reply.
const MaxVerdictBytes = 1024

// A verdict's first byte: two bits of codec version, two of encoding, and
// the low four bits of the spec version it answers (an echo the inspector
// checks against its query; the full version is in the query and in the
// node's SpecTag). The bitmap encoding of 500 checks is therefore
// 1 + 63 = 64 bytes whatever the version.
const (
	codecV1   = 1 << 6
	codecMask = 0xc0
	encShift  = 4
	encPass   = 0 // every check passed; no body
	encBitmap = 1 // body: bitmap of failed checks, bit i of byte i/8, trailing zero bytes trimmed
	encList   = 2 // body: uvarint count, then uvarint gaps between failed indices
	encStale  = 3 // body: uvarint version the agent holds (0: none); echo is its low bits
	echoMask  = 0x0f
)

// Verdict is a node's answer to an inspection query.
type Verdict struct {
	// Stale is true when the node does not hold the queried spec version;
	// Held is then the version it holds (0: none) and Failed is empty.
	Stale bool
	Held  uint64
	// Failed lists the indices of failed checks in the spec, ascending.
	Failed []int
}

// Passed reports whether the node holds the spec and every check passed.
func (v Verdict) Passed() bool { return !v.Stale && len(v.Failed) == 0 }

// EncodeVerdict encodes the verdict on spec version version: a stale
// verdict, or the failed indices (ascending, each below MaxChecks) in
// whichever of a bitmap and a gap list is shorter.
func EncodeVerdict(version uint64, v Verdict) []byte {
	if v.Stale {
		b := []byte{codecV1 | encStale<<encShift | byte(v.Held&echoMask)}
		return binary.AppendUvarint(b, v.Held)
	}
	head := codecV1 | byte(version&echoMask)
	if len(v.Failed) == 0 {
		return []byte{head | encPass<<encShift}
	}
	list := binary.AppendUvarint([]byte{head | encList<<encShift}, uint64(len(v.Failed)))
	prev := -1
	for _, i := range v.Failed {
		list = binary.AppendUvarint(list, uint64(i-prev-1))
		prev = i
	}
	bitmap := make([]byte, 1+v.Failed[len(v.Failed)-1]/8+1)
	bitmap[0] = head | encBitmap<<encShift
	for _, i := range v.Failed {
		bitmap[1+i/8] |= 1 << (i % 8)
	}
	if len(list) < len(bitmap) {
		return list
	}
	return bitmap
}

// DecodeVerdict decodes a reply to a query on spec version version, whose
// spec has n checks. Oversize, malformed or inconsistent replies (an index
// beyond n, a wrong version echo) are refused with ErrInvalid.
func DecodeVerdict(b []byte, version uint64, n int) (Verdict, error) {
	switch {
	case len(b) == 0:
		return Verdict{}, newError(ErrInvalid, "empty verdict")
	case len(b) > MaxVerdictBytes:
		return Verdict{}, newError(ErrInvalid, "verdict of %d bytes exceeds %d", len(b), MaxVerdictBytes)
	case b[0]&codecMask != codecV1:
		return Verdict{}, newError(ErrInvalid, "verdict codec %d, want 1", b[0]>>6)
	case n < 0 || n > MaxChecks:
		return Verdict{}, newError(ErrInvalid, "spec of %d checks", n)
	}
	enc, echo, body := int(b[0]>>encShift&3), uint64(b[0]&echoMask), b[1:]
	if enc == encStale {
		held, k := binary.Uvarint(body)
		if k <= 0 || k != len(body) || held&echoMask != echo {
			return Verdict{}, newError(ErrInvalid, "stale verdict % x", b)
		}
		if held == version {
			return Verdict{}, newError(ErrInvalid, "stale verdict names the queried version %d", version)
		}
		return Verdict{Stale: true, Held: held}, nil
	}
	if echo != version&echoMask {
		return Verdict{}, newError(ErrInvalid, "verdict echoes version bits %d, query was version %d", echo, version)
	}
	var failed []int
	switch enc {
	case encPass:
		if len(body) != 0 {
			return Verdict{}, newError(ErrInvalid, "pass verdict with %d bytes of body", len(body))
		}
	case encBitmap:
		if len(body) == 0 || body[len(body)-1] == 0 || len(body) > (n+7)/8 {
			return Verdict{}, newError(ErrInvalid, "bitmap of %d bytes for %d checks", len(body), n)
		}
		for j, x := range body {
			for x != 0 {
				bit := bits.TrailingZeros8(x)
				x &^= 1 << bit
				failed = append(failed, j*8+bit)
			}
		}
		if failed[len(failed)-1] >= n {
			return Verdict{}, newError(ErrInvalid, "bitmap names check %d of %d", failed[len(failed)-1], n)
		}
	case encList:
		count, k := binary.Uvarint(body)
		if k <= 0 || count == 0 || count > uint64(n) {
			return Verdict{}, newError(ErrInvalid, "list verdict of %d failures for %d checks", count, n)
		}
		body = body[k:]
		prev := -1
		for range count {
			gap, k := binary.Uvarint(body)
			if k <= 0 || gap >= uint64(n) || prev+1+int(gap) >= n {
				return Verdict{}, newError(ErrInvalid, "list verdict names a check beyond %d", n)
			}
			prev += 1 + int(gap)
			failed = append(failed, prev)
			body = body[k:]
		}
		if len(body) != 0 {
			return Verdict{}, newError(ErrInvalid, "list verdict with %d trailing bytes", len(body))
		}
	}
	return Verdict{Failed: failed}, nil
}

// Query payloads are text, so that any serf client (serf query NAME
// PAYLOAD) can send one: the spec version, then optionally ':' and the
// indices of the checks to run, comma-separated ("7" or "7:0,4,12"). A
// query never carries a command: the agent runs only checks of the spec
// it already holds.
const maxQueryBytes = 1024

// encodeQuery returns the payload of a query on version for the given
// check indices (nil: all).
func encodeQuery(version uint64, only []int) []byte {
	var sb strings.Builder
	sb.WriteString(strconv.FormatUint(version, 10))
	for j, i := range only {
		if j == 0 {
			sb.WriteByte(':')
		} else {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Itoa(i))
	}
	return []byte(sb.String())
}

// decodeQuery parses a query payload; only is nil for all checks, sorted
// and deduplicated otherwise.
func decodeQuery(b []byte) (version uint64, only []int, err error) {
	if len(b) == 0 || len(b) > maxQueryBytes {
		return 0, nil, newError(ErrInvalid, "query payload of %d bytes", len(b))
	}
	head, rest, hasList := strings.Cut(string(b), ":")
	version, err = strconv.ParseUint(head, 10, 64)
	if err != nil || version == 0 {
		return 0, nil, newError(ErrInvalid, "query version %q", head)
	}
	if !hasList {
		return version, nil, nil
	}
	for f := range strings.SplitSeq(rest, ",") {
		i, err := strconv.Atoi(f)
		if err != nil || i < 0 || i >= MaxChecks {
			return 0, nil, newError(ErrInvalid, "query check index %q", f)
		}
		only = append(only, i)
	}
	slices.Sort(only)
	return version, slices.Compact(only), nil
}
