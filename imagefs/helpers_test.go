package imagefs_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func sha(b []byte) v1.Hash {
	h, _, _ := v1.SHA256(bytesReader(b))
	return h
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// layerNames lists the tar entry names of layer k of img.
func layerNames(t *testing.T, img v1.Image, k int) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[k].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var names []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	return names
}
