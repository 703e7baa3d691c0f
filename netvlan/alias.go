package netvlan

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// The host end of every veth pair Attach creates carries its ownership in
// the kernel, as the link's alias (IFLA_IFALIAS, `ip link show` prints it):
//
//	netvlan:OWNER:CONTAINER:IFACE
//
// Each field is percent-escaped: '%', ':', '#' and every byte outside
// printable ASCII ('!'..'~') become %XX (two upper-case hex digits). An
// escaped OWNER or CONTAINER longer than aliasFieldMax bytes is written as
// '#' and the first 32 hex digits of the SHA-256 of the raw value instead;
// IFACE is at most 15 bytes and never hashed. The whole alias is then at
// most 8+96+1+96+1+45 = 247 bytes, within the kernel's IFALIASZ (256 with
// the NUL).
//
// The alias is what lets Reconcile find a veth that a crash left without a
// Port row (between creating the pair and committing the rows): OVSDB has
// nothing about it, and ownership is never decided by a name prefix. The
// kernel ignores an alias in the request that creates a link, so it is set
// in a second request right after: a crash between the two leaves a veth
// without an alias, which Reconcile removes only when that container
// interface is desired again (its name is then known).
const (
	aliasPrefix   = "netvlan:"
	aliasFieldMax = 96
	aliasHashHex  = 32
	ifAliasMax    = 255 // IFALIASZ less the NUL
)

// vethAlias is a parsed alias. A hashed field holds '#' and the hash's hex
// digits, and its flag is set.
type vethAlias struct {
	Owner, ContainerID, IfName   string
	OwnerHashed, ContainerHashed bool
}

// encodeAlias returns the alias of the host end of owner's veth for the
// container interface containerID/ifName.
func encodeAlias(owner, containerID, ifName string) string {
	return aliasPrefix + aliasField(owner) + ":" + aliasField(containerID) + ":" + aliasEscape(ifName)
}

// aliasField escapes v, or hashes it when the escaped form is too long.
func aliasField(v string) string {
	if e := aliasEscape(v); len(e) <= aliasFieldMax {
		return e
	}
	return aliasHash(v)
}

func aliasHash(v string) string {
	h := sha256.Sum256([]byte(v))
	return "#" + hex.EncodeToString(h[:])[:aliasHashHex]
}

func aliasKeep(c byte) bool {
	return c > ' ' && c <= '~' && c != '%' && c != ':' && c != '#'
}

func aliasEscape(v string) string {
	const digits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(v))
	for i := range len(v) {
		c := v[i]
		if aliasKeep(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&0xf])
	}
	return b.String()
}

// aliasUnescape reverses aliasEscape; it accepts only what aliasEscape
// writes, so every alias has one spelling.
func aliasUnescape(e string) (string, bool) {
	var b strings.Builder
	b.Grow(len(e))
	for i := 0; i < len(e); i++ {
		c := e[i]
		if c != '%' {
			if !aliasKeep(c) {
				return "", false
			}
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(e) {
			return "", false
		}
		hi, ok1 := upperHex(e[i+1])
		lo, ok2 := upperHex(e[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		d := hi<<4 | lo
		if aliasKeep(d) {
			return "", false // needlessly escaped
		}
		b.WriteByte(d)
		i += 2
	}
	return b.String(), true
}

func upperHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseAliasField decodes one OWNER or CONTAINER field.
func parseAliasField(f string) (v string, hashed, ok bool) {
	if strings.HasPrefix(f, "#") {
		h := f[1:]
		if len(h) != aliasHashHex || strings.ToLower(h) != h {
			return "", false, false
		}
		if _, err := hex.DecodeString(h); err != nil {
			return "", false, false
		}
		return f, true, true
	}
	if len(f) > aliasFieldMax {
		return "", false, false
	}
	v, ok = aliasUnescape(f)
	return v, false, ok && v != ""
}

// parseAlias parses a link alias written by encodeAlias. The alias comes
// from the kernel, where anyone may have set it: ok is false for anything
// encodeAlias would not have written.
func parseAlias(s string) (a vethAlias, ok bool) {
	rest, found := strings.CutPrefix(s, aliasPrefix)
	if !found || len(s) > ifAliasMax {
		return vethAlias{}, false
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 {
		return vethAlias{}, false
	}
	if a.Owner, a.OwnerHashed, ok = parseAliasField(parts[0]); !ok {
		return vethAlias{}, false
	}
	if a.ContainerID, a.ContainerHashed, ok = parseAliasField(parts[1]); !ok {
		return vethAlias{}, false
	}
	if len(parts[2]) > 3*15 {
		return vethAlias{}, false
	}
	if a.IfName, ok = aliasUnescape(parts[2]); !ok || a.IfName == "" || len(a.IfName) > 15 {
		return vethAlias{}, false
	}
	return a, true
}

// ownedBy reports whether the alias names owner.
func (a vethAlias) ownedBy(owner string) bool {
	if a.OwnerHashed {
		return a.Owner == aliasField(owner)
	}
	return a.Owner == owner && aliasField(owner) == aliasEscape(owner)
}
