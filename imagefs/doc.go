// Package imagefs builds, moves and unpacks compressed layered OCI images so
// that a container's root file system is ready before it is asked for.
//
// It builds on go-containerregistry: every function accepts and returns
// v1.Image and v1.Layer, so remote, layout and mutate keep working on the
// results. Images it writes use OCI media types throughout (manifest,
// config, layers) and zstd layers by default.
//
//   - Build turns a directory and a Recipe (base image, includes, clear
//     globs, layer role tags, labels, entrypoint) into a deterministic image
//     and reports what Clear saved; Squash merges a range of layers,
//     honouring whiteouts and opaque directories; Recompress switches
//     between zstd and gzip; ToOCI repairs the Docker manifests
//     mutate.Canonical and mutate.Time emit; Validate checks digests, sizes,
//     diff ids and media types for every compression.
//   - Push and Pull move images to and from a registry, layers in parallel,
//     requests retried, digests verified.
//   - A Store is a node's image store: blobs in an OCI layout and every
//     layer unpacked once, by the package's own unpacker (whiteouts turned
//     into overlayfs form, paths that escape refused, decompression bombs
//     and oversized zstd windows stopped by Limits while they stream, one
//     syncfs and an atomic rename per layer), with reference counts and GC.
//     The store's directories are root-only (0700, tightened when an older
//     store is opened): a layer keeps its image's owners, modes and setuid
//     bits, so no other host user may walk into it. Prepare stacks the
//     unpacked layers into an overlay mount for a container in
//     milliseconds, marking the image in use before it mounts, so a crash
//     never lets GC take layers from under a container; Release undoes it.
//   - Predistribute fills many stores ahead of need: stores serve their
//     blobs to each other over HTTP (Store.Handler, Peer), so the registry
//     sends each blob about once. A store relays a blob while it is still
//     receiving it (cut-through): a chain of nodes (Fanout 1, the default) takes about
//     the time of one when links are the bottleneck. A transfer that
//     breaks part-way falls back to the next source, then the origin.
//
// Usage:
//
//	img, report, err := imagefs.Build(ctx, "./app", imagefs.Recipe{
//		Base:       base, // a v1.Image, e.g. from imagefs.Pull
//		Clear:      []string{"*.pyc", "usr/share/doc/**"},
//		Labels:     map[string]string{"team": "web"},
//		Entrypoint: []string{"/app/run"},
//	})
//	if err != nil { ... }
//	log.Printf("cleared %d files, %d bytes", report.ClearedFiles, report.ClearedBytes)
//	if _, err := imagefs.Push(ctx, img, "registry.local:5000/web/app:1", imagefs.DefaultRemoteConfig()); err != nil { ... }
//
//	// On a node:
//	store, err := imagefs.OpenStore(ctx, imagefs.DefaultStoreConfig("/var/lib/shoal/images"))
//	img, err = imagefs.Pull(ctx, "registry.local:5000/web/app:1", imagefs.DefaultRemoteConfig())
//	_, err = store.Add(ctx, img, "web/app:1") // fetch + unpack, ahead of need
//	// or, for many nodes, each serving its store.Handler() at its URL:
//	_, err = imagefs.Predistribute(ctx, img, "web/app:1", nodes, imagefs.DistributeConfig{Fanout: 1})
//	rootfs, err := store.Prepare(ctx, "web/app:1", "c1") // overlay mount, no unpacking
//	// run the container on rootfs.Path, then:
//	err = store.Release(ctx, "c1")
//
// Every call that does I/O takes a context first. Errors have one shape,
// "imagefs: what was wrong with which value: cause", and a kind that
// errors.Is matches: ErrInvalid, ErrNotFound, ErrExist, ErrInUse,
// ErrDigestMismatch, ErrUnsafePath, ErrCorrupt, ErrTooLarge,
// ErrUnsupportedMediaType, or ErrUnavailable for a dependency that failed
// (the file system, a registry, a peer) or a context that ended. A zero
// field of StoreConfig, Limits, RemoteConfig or DistributeConfig means its
// documented default. A BlobSource of your own is checked with
// imagefstest.ValidateBlobSource.
//
// Overlay mounts, whiteout devices and trusted.* xattrs need root
// (CAP_SYS_ADMIN and CAP_MKNOD).
package imagefs
