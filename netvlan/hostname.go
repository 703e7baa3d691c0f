package netvlan

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultHostnameRule names a container after its address: 10.1.2.3 is
// c-10-1-2-3.
const DefaultHostnameRule = "c-{ip}"

// maxRuleLen bounds a hostname rule's text; a DNS name is at most 253 bytes.
const maxRuleLen = 253

// HostnameRule derives a container's hostname from its IP address and VLAN,
// as JD.com's platform did, so that the name and the address never disagree.
// A rule is a template of lowercase letters, digits, '-' and '.', with
// placeholders:
//
//	{ip}    the address with dashes: 10-1-2-3
//	{a} {b} {c} {d}  the four octets: 10, 1, 2, 3
//	{hex}   the address as 8 hex digits: 0a010203
//	{vlan}  the VLAN id: 10
//
// "c-{ip}.vlan{vlan}.dc1" gives c-10-1-2-3.vlan10.dc1. The result must be a
// valid DNS name (RFC 1123 labels of 1..63 characters, not starting or ending
// with '-'). The zero HostnameRule is the DefaultHostnameRule.
type HostnameRule struct {
	parts []rulePart
}

type rulePart struct {
	literal string // when field is ""
	field   string // ip, a, b, c, d, hex, vlan
}

// ParseHostnameRule parses a rule such as "c-{ip}" or "{d}-{c}.vlan{vlan}".
func ParseHostnameRule(s string) (HostnameRule, error) {
	if s == "" {
		return HostnameRule{}, newError(ErrInvalid, "hostname rule is empty")
	}
	if len(s) > maxRuleLen {
		return HostnameRule{}, newError(ErrInvalid, "hostname rule is %d bytes, longer than a DNS name may be", len(s))
	}
	var r HostnameRule
	rest := s
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			r.parts = append(r.parts, rulePart{literal: rest})
			break
		}
		if rest[i] == '}' {
			return HostnameRule{}, newError(ErrInvalid, "hostname rule %q: '}' without '{'", s)
		}
		if i > 0 {
			r.parts = append(r.parts, rulePart{literal: rest[:i]})
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return HostnameRule{}, newError(ErrInvalid, "hostname rule %q: '{' without '}'", s)
		}
		field := rest[i+1 : i+end]
		switch field {
		case "ip", "a", "b", "c", "d", "hex", "vlan":
		default:
			return HostnameRule{}, newError(ErrInvalid, "hostname rule %q: unknown placeholder {%s} (want ip, a, b, c, d, hex or vlan)", s, field)
		}
		r.parts = append(r.parts, rulePart{field: field})
		rest = rest[i+end+1:]
	}
	for _, p := range r.parts {
		for _, c := range p.literal {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '.' {
				return HostnameRule{}, newError(ErrInvalid, "hostname rule %q: character %q is not allowed in a hostname (lowercase letters, digits, '-', '.')", s, c)
			}
		}
	}
	// Placeholders expand to digits, hex and dashes only, so checking the
	// widest and the narrowest expansion checks every one.
	for _, probe := range []netip.Addr{netip.AddrFrom4([4]byte{255, 255, 255, 255}), netip.AddrFrom4([4]byte{0, 0, 0, 0})} {
		for _, vlan := range []int{MinVLAN, MaxVLAN} {
			if _, err := r.Hostname(probe, vlan); err != nil {
				return HostnameRule{}, wrapError(ErrInvalid, err, "hostname rule %q", s)
			}
		}
	}
	return r, nil
}

// MustParseHostnameRule is ParseHostnameRule for rules written in the
// program: it panics on a bad rule.
func MustParseHostnameRule(s string) HostnameRule {
	r, err := ParseHostnameRule(s)
	if err != nil {
		panic(err)
	}
	return r
}

// String returns the rule's template.
func (r HostnameRule) String() string {
	if len(r.parts) == 0 {
		return DefaultHostnameRule
	}
	var b strings.Builder
	for _, p := range r.parts {
		if p.field != "" {
			b.WriteString("{" + p.field + "}")
		} else {
			b.WriteString(p.literal)
		}
	}
	return b.String()
}

// Hostname returns the hostname of the container with address addr on
// vlan, which must be 1..4094: a port without an access VLAN (a trunk) has
// no hostname.
func (r HostnameRule) Hostname(addr netip.Addr, vlan int) (string, error) {
	if err := checkVLAN(vlan); err != nil {
		return "", wrapError(ErrInvalid, err, "hostname of %v", addr)
	}
	if !addr.Is4() {
		return "", newError(ErrInvalid, "hostname of %v: only IPv4 addresses are supported", addr)
	}
	parts := r.parts
	if len(parts) == 0 {
		parts = []rulePart{{literal: "c-"}, {field: "ip"}}
	}
	o := addr.As4()
	var b strings.Builder
	for _, p := range parts {
		switch p.field {
		case "":
			b.WriteString(p.literal)
		case "ip":
			fmt.Fprintf(&b, "%d-%d-%d-%d", o[0], o[1], o[2], o[3])
		case "a", "b", "c", "d":
			b.WriteString(strconv.Itoa(int(o[p.field[0]-'a'])))
		case "hex":
			fmt.Fprintf(&b, "%02x%02x%02x%02x", o[0], o[1], o[2], o[3])
		case "vlan":
			b.WriteString(strconv.Itoa(vlan))
		}
	}
	name := b.String()
	if err := checkDNSName(name); err != nil {
		return "", err
	}
	return name, nil
}

// HostsLine returns the /etc/hosts line for the container with address addr
// on vlan: the address, the full name and, when the name has a domain, the
// short name, tab separated and ending in a newline.
func (r HostnameRule) HostsLine(addr netip.Addr, vlan int) (string, error) {
	name, err := r.Hostname(addr, vlan)
	if err != nil {
		return "", err
	}
	if short, _, found := strings.Cut(name, "."); found {
		return addr.String() + "\t" + name + "\t" + short + "\n", nil
	}
	return addr.String() + "\t" + name + "\n", nil
}

// checkDNSName checks name against RFC 1123.
func checkDNSName(name string) error {
	if name == "" || len(name) > maxRuleLen {
		return newError(ErrInvalid, "hostname %q must be 1..%d characters", name, maxRuleLen)
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return newError(ErrInvalid, "hostname %q has a label that is empty or longer than 63 characters", name)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return newError(ErrInvalid, "hostname %q has a label that starts or ends with '-'", name)
		}
		for _, c := range label {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return newError(ErrInvalid, "hostname %q has character %q", name, c)
			}
		}
	}
	return nil
}
