package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/inspect"
)

// member is what both commands read from their flags before starting a
// serf member: a bad flag or file is a usage error (exit 2).
type member struct {
	cfg       inspect.NodeConfig
	spec      *inspect.Spec
	specBytes []byte
}

func (f *nodeFlags) load(stderr io.Writer) (member, error) {
	var m member
	if f.name == "" {
		return m, daemon.UsageError(stderr, "inspector: -name is empty")
	}
	host, portText, err := net.SplitHostPort(f.bind)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil || port < 0 || port > 65535 {
		return m, daemon.UsageError(stderr, "inspector: -bind %q: want HOST:PORT", f.bind)
	}
	m.cfg = inspect.NodeConfig{BindAddr: host, BindPort: port, AdvertiseAddr: f.advertise, Profile: inspect.Profile(f.profile)}
	if port == 0 { // -bind HOST:0 means any free port, as for net.Listen
		m.cfg.BindPort = inspect.AnyPort
	}
	switch m.cfg.Profile {
	case inspect.ProfileLAN, inspect.ProfileLocal, inspect.ProfileWAN:
	default:
		return m, daemon.UsageError(stderr, "inspector: -profile %q: want lan, local or wan", f.profile)
	}
	if f.keyring != "" {
		if m.cfg.Keys, err = readKeys(f.keyring); err != nil {
			return m, daemon.UsageError(stderr, "inspector: -keyring: %v", err)
		}
	}
	if f.spec == "" && f.etcd != "" {
		return m, nil // the spec comes from etcd
	}
	if f.spec == "" {
		return m, daemon.UsageError(stderr, "inspector: -spec is required (or -etcd-endpoints)")
	}
	if m.specBytes, err = os.ReadFile(f.spec); err == nil {
		m.spec, err = inspect.ParseSpec(m.specBytes)
	}
	if err != nil {
		return m, daemon.UsageError(stderr, "inspector: -spec %s: %v", f.spec, err)
	}
	return m, nil
}

// readKeys reads serf keys in base64: serf's JSON keyring file, or one key
// a line (or space separated).
func readKeys(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var texts []string
	if text := strings.TrimSpace(string(b)); strings.HasPrefix(text, "[") {
		if err := json.Unmarshal(b, &texts); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	} else {
		texts = strings.Fields(text)
	}
	if len(texts) == 0 {
		return nil, fmt.Errorf("%s holds no key", path)
	}
	keys := make([][]byte, len(texts))
	for i, t := range texts {
		keys[i], err = base64.StdEncoding.DecodeString(t)
		if err != nil || (len(keys[i]) != 16 && len(keys[i]) != 24 && len(keys[i]) != 32) {
			return nil, fmt.Errorf("%s: key %d is not base64 of 16, 24 or 32 bytes", path, i+1)
		}
	}
	return keys, nil
}

// readSecret reads the fix-signing secret: the file's content without
// surrounding space.
func readSecret(stderr io.Writer, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(b)) == "" {
		err = fmt.Errorf("%s is empty", path)
	}
	if err != nil {
		return nil, daemon.UsageError(stderr, "inspector: -fix-key-file: %v", err)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}
