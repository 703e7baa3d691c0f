// Package imagefstest makes deterministic test content for imagefs: layer
// tar archives from a list of entries (hostile ones included) and seeded
// synthetic file trees, so tests and benchmarks never download an image.
//
//	layer := imagefstest.Tar(t,
//		imagefstest.Entry{Name: "etc/", Type: tar.TypeDir},
//		imagefstest.Entry{Name: "etc/hosts", Body: []byte("127.0.0.1 localhost\n")},
//		imagefstest.Entry{Name: "../escape", Body: []byte("x")}, // hostile
//	)
//	_, err := imagefs.UnpackTar(ctx, bytes.NewReader(layer), dir) // errors.Is(err, imagefs.ErrUnsafePath)
//	n := imagefstest.WriteTree(t, src, imagefstest.TreeSpec{Seed: 1, Files: 200, Bytes: 2 << 20})
//
// It also serves go-containerregistry's in-process registry on loopback
// (StartRegistry) behind a Proxy that counts egress and injects failures,
// and holds the conformance suite of imagefs.BlobSource, for sources of
// your own (go-containerregistry's validate is the model):
//
//	if err := imagefstest.ValidateBlobSource(ctx, src, heldBlobs); err != nil {
//		t.Fatal(err)
//	}
package imagefstest
