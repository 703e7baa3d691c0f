package netvlan

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// A zero Config is DefaultConfig: every zero field takes its documented
// default.
func TestZeroConfigIsDefaultConfig(t *testing.T) {
	if got, want := (Config{}).withDefaults(), DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Config{}.withDefaults() = %+v\nwant DefaultConfig() = %+v", got, want)
	}
	if err := (&Config{}).validate(); err != nil {
		t.Fatalf("zero Config refused: %v", err)
	}
	d := DefaultConfig()
	if err := d.validate(); err != nil {
		t.Fatalf("DefaultConfig refused: %v", err)
	}
	// Fields DefaultConfig leaves zero mean what Config documents.
	if d.HostNetns != "" || d.MTU != 0 || d.Pools != nil || d.Hostname.String() != DefaultHostnameRule ||
		d.KeepTxChecksum || d.KeepIPv6 || d.Logger != nil {
		t.Fatalf("DefaultConfig sets a field documented as zero: %+v", d)
	}
	// A set field is kept.
	c := Config{Bridge: "br9", MaxInFlight: 3, ReadyTimeout: time.Second}.withDefaults()
	if c.Bridge != "br9" || c.MaxInFlight != 3 || c.ReadyTimeout != time.Second || c.Owner != "netvlan" {
		t.Fatalf("withDefaults changed set fields: %+v", c)
	}
}

// What no default can mend is refused by Open, naming the field.
func TestOpenRefusesBadConfig(t *testing.T) {
	cases := []struct {
		mod   func(*Config)
		field string
	}{
		{func(c *Config) { c.ConnectTimeout = -time.Second }, "Config.ConnectTimeout -1s is negative"},
		{func(c *Config) { c.ReconnectInterval = -1 }, "Config.ReconnectInterval"},
		{func(c *Config) { c.ReconnectMax = -1 }, "Config.ReconnectMax"},
		{func(c *Config) { c.ReadyTimeout = -1 }, "Config.ReadyTimeout"},
		{func(c *Config) { c.PaceTimeout = -1 }, "Config.PaceTimeout"},
		{func(c *Config) { c.MaxBatch = -1 }, "Config.MaxBatch -1 is negative"},
		{func(c *Config) { c.MaxInFlight = -1 }, "Config.MaxInFlight"},
		{func(c *Config) { c.DeleteChunk = -1 }, "Config.DeleteChunk"},
		{func(c *Config) { c.MTU = 20 }, "Config.MTU 20 out of range 68..65535"},
		{func(c *Config) { c.MTU = 70000 }, "Config.MTU 70000"},
		{func(c *Config) { c.Owner = "a\nb" }, `Config.Owner "a\nb" contains the control character`},
		{func(c *Config) { c.IfName = "eth\x000" }, "Config.IfName"},
	}
	for _, tc := range cases {
		var cfg Config
		tc.mod(&cfg)
		_, err := Open(t.Context(), cfg)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Open(%+v) = %v, want ErrInvalid naming %q", cfg, err, tc.field)
		}
	}
}

// FuzzCheckID: an id is accepted only without control characters, as valid
// UTF-8 of at most 1,024 bytes; a refusal is ErrInvalid and its text
// carries no raw control character.
func FuzzCheckID(f *testing.F) {
	for _, s := range []string{"c1", "a\nb", "\x00", "\xff", "é", "\u0085", strings.Repeat("x", 1025), ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := checkID("container id", id)
		bad := len(id) > maxIDLen || !utf8.ValidString(id) || strings.IndexFunc(id, unicode.IsControl) >= 0
		if (err != nil) != bad {
			t.Fatalf("checkID(%q) = %v, want refused=%v", id, err, bad)
		}
		if err == nil {
			return
		}
		if !errors.Is(err, ErrInvalid) || strings.IndexFunc(err.Error(), unicode.IsControl) >= 0 {
			t.Fatalf("checkID(%q) = %q", id, err)
		}
	})
}
