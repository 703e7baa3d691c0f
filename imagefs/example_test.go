package imagefs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shoalkit/shoal/imagefs"
)

// Build an image from a directory, leaving out logs, and validate it.
func ExampleBuild() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "imagefs-example-")
	defer os.RemoveAll(dir)
	_ = os.WriteFile(filepath.Join(dir, "run"), []byte("#!/bin/sh\necho hello\n"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "debug.log"), []byte("noise"), 0o644)

	img, report, err := imagefs.Build(ctx, dir, imagefs.Recipe{
		Clear:      []string{"*.log"},
		Labels:     map[string]string{"team": "shoal"},
		Entrypoint: []string{"/run"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, _ := img.Manifest()
	fmt.Println(m.MediaType)
	fmt.Println(m.Layers[0].MediaType, m.Layers[0].Annotations[imagefs.AnnotationRole])
	fmt.Printf("cleared %d file(s), %d bytes\n", report.ClearedFiles, report.ClearedBytes)
	fmt.Println(imagefs.Validate(ctx, img, imagefs.ValidateOptions{}))
	// Output:
	// application/vnd.oci.image.manifest.v1+json
	// application/vnd.oci.image.layer.v1.tar+zstd app
	// cleared 1 file(s), 5 bytes
	// <nil>
}

// Recompress a zstd image to gzip for an older client: the diff ids stay.
func ExampleRecompress() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "imagefs-example-")
	defer os.RemoveAll(dir)
	_ = os.WriteFile(filepath.Join(dir, "data"), []byte("same content"), 0o644)
	img, _, _ := imagefs.Build(ctx, dir, imagefs.Recipe{})
	gz, err := imagefs.Recompress(ctx, img, imagefs.Compression{Algorithm: imagefs.Gzip, Level: 9})
	if err != nil {
		fmt.Println(err)
		return
	}
	a, _ := img.ConfigFile()
	b, _ := gz.ConfigFile()
	m, _ := gz.Manifest()
	fmt.Println(m.Layers[0].MediaType)
	fmt.Println(a.RootFS.DiffIDs[0] == b.RootFS.DiffIDs[0])
	// Output:
	// application/vnd.oci.image.layer.v1.tar+gzip
	// true
}
