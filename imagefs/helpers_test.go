package imagefs_test

import (
	"bytes"
	"encoding/json"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func sha(b []byte) v1.Hash {
	h, _, _ := v1.SHA256(bytesReader(b))
	return h
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
