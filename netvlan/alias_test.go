package netvlan

import (
	"strings"
	"testing"
)

func TestAliasEncodeParse(t *testing.T) {
	long := strings.Repeat("x", 200)
	colons := strings.Repeat(":", 40) // 120 bytes escaped: hashed
	tests := []struct {
		owner, id, ifName string
		want              string // "" when only the round trip matters
		ownerHashed       bool
		idHashed          bool
	}{
		{owner: "netvlan", id: "abc123", ifName: "eth0", want: "netvlan:netvlan:abc123:eth0"},
		{owner: "agent:1", id: "pod%1#a", ifName: "eth1", want: "netvlan:agent%3A1:pod%251%23a:eth1"},
		{owner: "a b", id: "c\x7fd\xff", ifName: "e", want: "netvlan:a%20b:c%7Fd%FF:e"},
		{owner: "netvlan", id: long, ifName: "eth0", idHashed: true},
		{owner: long, id: "c", ifName: "eth0", ownerHashed: true},
		{owner: colons, id: colons, ifName: "123456789012345", ownerHashed: true, idHashed: true},
		{owner: strings.Repeat("y", aliasFieldMax), id: strings.Repeat("%", 32), ifName: "abcdefghijklmno"},
	}
	for _, tc := range tests {
		enc := encodeAlias(tc.owner, tc.id, tc.ifName)
		if tc.want != "" && enc != tc.want {
			t.Errorf("encodeAlias(%q, %q, %q) = %q, want %q", tc.owner, tc.id, tc.ifName, enc, tc.want)
		}
		if len(enc) > ifAliasMax {
			t.Errorf("alias of %q is %d bytes, over %d", tc.id, len(enc), ifAliasMax)
		}
		a, ok := parseAlias(enc)
		if !ok {
			t.Errorf("parseAlias(%q) failed", enc)
			continue
		}
		if a.OwnerHashed != tc.ownerHashed || a.ContainerHashed != tc.idHashed {
			t.Errorf("parseAlias(%q): hashed = %v, %v; want %v, %v", enc, a.OwnerHashed, a.ContainerHashed, tc.ownerHashed, tc.idHashed)
		}
		if !tc.idHashed && a.ContainerID != tc.id {
			t.Errorf("parseAlias(%q).ContainerID = %q, want %q", enc, a.ContainerID, tc.id)
		}
		if a.IfName != tc.ifName {
			t.Errorf("parseAlias(%q).IfName = %q, want %q", enc, a.IfName, tc.ifName)
		}
		if !a.ownedBy(tc.owner) {
			t.Errorf("alias %q is not owned by %q", enc, tc.owner)
		}
		if a.ownedBy(tc.owner + "2") {
			t.Errorf("alias %q is owned by %q", enc, tc.owner+"2")
		}
	}
}

func TestAliasParseRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"netvlan",
		"netvlan:",
		"netvlan:o:c",
		"netvlan:o:c:i:x",
		"netvlan::c:i",
		"netvlan:o::i",
		"netvlan:o:c:",
		"other:o:c:i",
		"NETVLAN:o:c:i",
		"netvlan:o%3a:c:i", // lower-case hex
		"netvlan:o%41:c:i", // needless escape
		"netvlan:o%4:c:i",  // short escape
		"netvlan:o%:c:i",   // bare percent
		"netvlan:o c:c:i",  // raw space
		"netvlan:o:c#:i",   // raw '#'
		"netvlan:#abc:c:i", // short hash
		"netvlan:o:c:#" + strings.Repeat("0", aliasHashHex), // interface names are never hashed
		"netvlan:#" + strings.Repeat("G", aliasHashHex) + ":c:i",
		"netvlan:#" + strings.Repeat("A", aliasHashHex) + ":c:i",   // upper-case hash
		"netvlan:" + strings.Repeat("o", aliasFieldMax+1) + ":c:i", // should have been hashed
		"netvlan:o:c:" + strings.Repeat("i", 16),                   // interface name too long
		"netvlan:o:c:i\x00",
	} {
		if a, ok := parseAlias(s); ok {
			t.Errorf("parseAlias(%q) = %+v, want rejected", s, a)
		}
	}
}

func TestAliasOwnership(t *testing.T) {
	long := strings.Repeat("o", 300)
	a, ok := parseAlias(encodeAlias(long, "c", "eth0"))
	if !ok || !a.OwnerHashed {
		t.Fatalf("long owner: %+v %v", a, ok)
	}
	// An owner that spells the hash literally is escaped, so it never
	// matches the hashed form.
	if a.ownedBy(a.Owner) {
		t.Errorf("owner %q owns the alias of a hashed owner", a.Owner)
	}
	b, ok := parseAlias(encodeAlias(a.Owner, "c", "eth0"))
	if !ok || b.OwnerHashed || b.ownedBy(long) {
		t.Errorf("alias of owner %q: %+v %v", a.Owner, b, ok)
	}
}

func FuzzParseAlias(f *testing.F) {
	f.Add("netvlan:netvlan:abc:eth0")
	f.Add("netvlan:agent%3A1:pod%251%23a:eth1")
	f.Add(encodeAlias(strings.Repeat("x", 200), strings.Repeat("y", 200), "eth0"))
	f.Add("netvlan:o%4:c:i")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := parseAlias(s)
		if !ok {
			return
		}
		if len(s) > ifAliasMax {
			t.Fatalf("accepted %d bytes", len(s))
		}
		// One spelling per alias: what parses spells itself again.
		spell := func(v string, hashed bool) string {
			if hashed {
				return v
			}
			return aliasEscape(v)
		}
		got := aliasPrefix + spell(a.Owner, a.OwnerHashed) + ":" + spell(a.ContainerID, a.ContainerHashed) + ":" + aliasEscape(a.IfName)
		if got != s {
			t.Fatalf("parseAlias(%q) = %+v, which spells %q", s, a, got)
		}
		if !a.OwnerHashed && !a.ContainerHashed && encodeAlias(a.Owner, a.ContainerID, a.IfName) != s {
			t.Fatalf("parseAlias(%q) = %+v, which encodes differently", s, a)
		}
		if a.OwnerHashed {
			return
		}
		if !a.ownedBy(a.Owner) {
			t.Fatalf("parseAlias(%q) = %+v, not owned by its owner", s, a)
		}
	})
}
