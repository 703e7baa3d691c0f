// Command imgctl builds, squashes, moves and prepares OCI images with
// imagefs:
//
//	imgctl build -dir ./app -base oci:/srv/base:base -clear '*.pyc' -label team=web -entrypoint /app/run -o oci:/srv/out:app
//	imgctl squash -from 1 -to 4 oci:/srv/out:app oci:/srv/out:app-squashed
//	imgctl push -insecure oci:/srv/out:app 127.0.0.1:5000/web/app:1
//	imgctl pull -insecure -store /var/lib/shoal 127.0.0.1:5000/web/app:1
//	imgctl predistribute -insecure -stores /n1,/n2,/n3 127.0.0.1:5000/web/app:1
//	imgctl prepare -store /var/lib/shoal -id c1 127.0.0.1:5000/web/app:1
//	imgctl release -store /var/lib/shoal -id c1
//	imgctl serve -store /var/lib/shoal -addr 127.0.0.1:18080   # blobs to peers
//	imgctl pull -store /n2 -peer http://10.0.0.1:18080 -wait 2m REF  # follow a parent
//
// An image is named either "oci:DIR:NAME" (an OCI layout on disk) or a
// registry reference.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"

	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/imagefs"
)

func main() {
	daemon.Main("imgctl", newCLI().Run)
}

// newCLI is imgctl with its commands.
func newCLI() *daemon.CLI {
	return &daemon.CLI{
		Name:    "imgctl",
		Summary: "imgctl builds, squashes, moves and prepares OCI images; an image is oci:DIR:NAME or a registry reference.",
		Commands: []daemon.Command{
			{Name: "build", Args: "-dir DIR [-base IMAGE] [-include SRC:TARGET[:ROLE]] [-clear GLOB] -o IMAGE", Summary: "an image from a directory", Flags: cmdBuild},
			{Name: "squash", Args: "[-from N] [-to N] IMAGE OUT", Summary: "merge a range of layers into one", Flags: cmdSquash},
			{Name: "push", Args: "IMAGE REFERENCE", Summary: "copy an image to a registry", Flags: cmdPush},
			{Name: "pull", Args: "-store DIR [-peer URL] REFERENCE", Summary: "fetch an image into a node store and unpack it", Flags: cmdPull},
			{Name: "predistribute", Args: "-stores DIR,DIR,... REFERENCE", Summary: "pull an image into several stores through a chain of peers", Flags: cmdPredistribute},
			{Name: "prepare", Args: "-store DIR -id ID IMAGE", Summary: "mount a container's rootfs from a stored image", Flags: cmdPrepare},
			{Name: "release", Args: "-store DIR -id ID", Summary: "unmount and forget a container's rootfs", Flags: cmdRelease},
			{Name: "serve", Args: "-store DIR [-addr ADDR]", Summary: "serve a store's blobs to peers", Flags: cmdServe},
		},
	}
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func remoteConfig(insecure bool) imagefs.RemoteConfig {
	c := imagefs.DefaultRemoteConfig()
	c.Insecure = insecure
	return c
}

// loadImage reads "oci:DIR:NAME" from a layout or pulls a registry reference.
func loadImage(ctx context.Context, spec string, insecure bool) (v1.Image, error) {
	if rest, ok := strings.CutPrefix(spec, "oci:"); ok {
		dir, name, _ := strings.Cut(rest, ":")
		p, err := layout.FromPath(dir)
		if err != nil {
			return nil, fmt.Errorf("layout %s: %w", dir, err)
		}
		idx, err := p.ImageIndex()
		if err != nil {
			return nil, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, d := range im.Manifests {
			if name == "" || d.Annotations[imagefs.AnnotationRefName] == name {
				return p.Image(d.Digest)
			}
		}
		return nil, fmt.Errorf("%w: %q in layout %s", imagefs.ErrNotFound, name, dir)
	}
	return imagefs.Pull(ctx, spec, remoteConfig(insecure))
}

// saveImage writes img to "oci:DIR:NAME" or pushes it to a reference.
func saveImage(ctx context.Context, img v1.Image, spec string, insecure bool, out io.Writer) error {
	d, err := img.Digest()
	if err != nil {
		return err
	}
	if rest, ok := strings.CutPrefix(spec, "oci:"); ok {
		dir, name, _ := strings.Cut(rest, ":")
		p, err := layout.FromPath(dir)
		if err != nil {
			if p, err = layout.Write(dir, empty.Index); err != nil {
				return fmt.Errorf("layout %s: %w", dir, err)
			}
		}
		var opts []layout.Option
		if name != "" {
			opts = append(opts, layout.WithAnnotations(map[string]string{imagefs.AnnotationRefName: name}))
		}
		if err := p.ReplaceImage(img, match.Annotation(imagefs.AnnotationRefName, name), opts...); err != nil {
			return fmt.Errorf("layout %s: %w", dir, err)
		}
		fmt.Fprintf(out, "%s %s\n", d, spec)
		return nil
	}
	if _, err := imagefs.Push(ctx, img, spec, remoteConfig(insecure)); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s %s\n", d, spec)
	return nil
}

func compressionFlags(fs *flag.FlagSet) func() imagefs.Compression {
	alg := fs.String("compression", "zstd", "layer compression: zstd, gzip or none")
	level := fs.Int("level", 0, "compression level (0 = the algorithm's default)")
	return func() imagefs.Compression {
		return imagefs.Compression{Algorithm: imagefs.Algorithm(*alg), Level: *level}
	}
}

func cmdBuild(fs *flag.FlagSet) daemon.Action {
	dir := fs.String("dir", "", "directory to build the image from")
	base := fs.String("base", "", "base image (oci:DIR:NAME or a reference)")
	role := fs.String("role", imagefs.RoleApp, "role tag of the directory's layer")
	target := fs.String("target", "/", "where the directory lands in the image")
	output := fs.String("o", "", "output: oci:DIR:NAME or a reference to push to")
	insecure := fs.Bool("insecure", false, "plain HTTP to the registry")
	entrypoint := fs.String("entrypoint", "", "entrypoint, split on spaces")
	var includes, clears, labels, env listFlag
	fs.Var(&includes, "include", "SRC:TARGET[:ROLE] to add (repeatable)")
	fs.Var(&clears, "clear", "glob to leave out (repeatable)")
	fs.Var(&labels, "label", "KEY=VALUE label (repeatable)")
	fs.Var(&env, "env", "KEY=VALUE environment variable (repeatable)")
	comp := compressionFlags(fs)
	return func(ctx context.Context, args []string, out, stderr io.Writer) error {
		if *output == "" {
			return daemon.UsageError(stderr, "imgctl build: -o is required")
		}
		r := imagefs.Recipe{Role: *role, Target: *target, Clear: clears, Env: env, Compression: comp(), Labels: map[string]string{}}
		if *entrypoint != "" {
			r.Entrypoint = strings.Fields(*entrypoint)
		}
		for _, l := range labels {
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				return fmt.Errorf("build: label %q is not KEY=VALUE", l)
			}
			r.Labels[k] = v
		}
		for _, inc := range includes {
			parts := strings.SplitN(inc, ":", 3)
			if len(parts) < 2 {
				return fmt.Errorf("build: include %q is not SRC:TARGET[:ROLE]", inc)
			}
			i := imagefs.Include{Source: parts[0], Target: parts[1]}
			if len(parts) == 3 {
				i.Role = parts[2]
			}
			r.Include = append(r.Include, i)
		}
		if *base != "" {
			b, err := loadImage(ctx, *base, *insecure)
			if err != nil {
				return fmt.Errorf("build: base: %w", err)
			}
			r.Base = b
		}
		// The new layers wait on disk, not in memory, until they are written
		// out: an image may be larger than this machine's memory.
		spill, err := os.MkdirTemp("", "imgctl-build-")
		if err != nil {
			return fmt.Errorf("build: %w", err)
		}
		defer os.RemoveAll(spill)
		r.SpillDir = spill
		img, rep, err := imagefs.Build(ctx, *dir, r)
		if err != nil {
			return err
		}
		for _, l := range rep.Layers {
			fmt.Fprintf(out, "layer %-8s %s %10d bytes %6d files reused=%v\n", l.Role, l.Digest, l.Size, l.Files, l.Reused)
		}
		for _, c := range rep.Cleared {
			fmt.Fprintf(out, "cleared %-24q %6d files %10d bytes\n", c.Pattern, c.Files, c.Bytes)
		}
		if err := imagefs.Validate(ctx, img, imagefs.ValidateOptions{}); err != nil {
			return err
		}
		return saveImage(ctx, img, *output, *insecure, out)
	}
}

func cmdSquash(fs *flag.FlagSet) daemon.Action {
	from := fs.Int("from", 0, "first layer to merge")
	to := fs.Int("to", -1, "layer after the last to merge (-1 = all)")
	insecure := fs.Bool("insecure", false, "plain HTTP to the registry")
	comp := compressionFlags(fs)
	return func(ctx context.Context, args []string, out, stderr io.Writer) error {
		if len(args) != 2 {
			return daemon.UsageError(stderr, "imgctl squash: want SRC DST")
		}
		img, err := loadImage(ctx, args[0], *insecure)
		if err != nil {
			return err
		}
		if *to < 0 {
			ls, err := img.Layers()
			if err != nil {
				return err
			}
			*to = len(ls)
		}
		sq, err := imagefs.Squash(ctx, img, *from, *to, comp())
		if err != nil {
			return err
		}
		return saveImage(ctx, sq, args[1], *insecure, out)
	}
}

func cmdPush(fs *flag.FlagSet) daemon.Action {
	insecure := fs.Bool("insecure", false, "plain HTTP to the registry")
	recompress := fs.String("recompress", "", "recompress layers first: zstd, gzip or none")
	return func(ctx context.Context, args []string, out, stderr io.Writer) error {
		if len(args) != 2 {
			return daemon.UsageError(stderr, "imgctl push: want SRC REFERENCE")
		}
		img, err := loadImage(ctx, args[0], *insecure)
		if err != nil {
			return err
		}
		if *recompress != "" {
			if img, err = imagefs.Recompress(ctx, img, imagefs.Compression{Algorithm: imagefs.Algorithm(*recompress)}); err != nil {
				return err
			}
		}
		return saveImage(ctx, img, args[1], *insecure, out)
	}
}

func cmdPull(fs *flag.FlagSet) daemon.Action {
	insecure := fs.Bool("insecure", false, "plain HTTP to the registry")
	store := fs.String("store", "", "node store directory")
	name := fs.String("name", "", "name in the store (default the reference)")
	wait := fs.Duration("wait", 0, "how long to wait for a peer to get a blob it lacks")
	var peers listFlag
	fs.Var(&peers, "peer", "URL of a peer store to fetch blobs from first (repeatable)")
	return func(ctx context.Context, args []string, out, stderr io.Writer) error {
		if len(args) != 1 || *store == "" {
			return daemon.UsageError(stderr, "imgctl pull: want -store DIR REFERENCE")
		}
		var sources []imagefs.BlobSource
		for _, p := range peers {
			sources = append(sources, imagefs.Peer{URL: p, Wait: *wait})
		}
		img, err := loadImage(ctx, args[0], *insecure)
		if err != nil {
			return err
		}
		s, err := imagefs.OpenStore(ctx, imagefs.DefaultStoreConfig(*store))
		if err != nil {
			return err
		}
		if *name == "" {
			*name = args[0]
		}
		start := time.Now()
		res, err := s.Add(ctx, img, *name, sources...)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s %s: %d layers fetched (%d from peers, %d bytes), %d unpacked in %v\n", res.Digest, *name, res.Fetched, res.FromSources, res.Bytes, res.Unpacked, time.Since(start).Round(time.Millisecond))
		return nil
	}
}

func cmdPredistribute(fs *flag.FlagSet) daemon.Action {
	insecure := fs.Bool("insecure", false, "plain HTTP to the registry")
	stores := fs.String("stores", "", "comma-separated node store directories")
	basePort := fs.Int("base-port", 18080, "node i serves its blobs on 127.0.0.1:base-port+i")
	fanout := fs.Int("fanout", imagefs.DefaultDistributeConfig().Fanout, "nodes each node feeds (1: a chain, fastest when links are the bottleneck)")
	name := fs.String("name", "", "name in the stores (default the reference)")
	return func(ctx context.Context, args []string, out, stderr io.Writer) error {
		if len(args) != 1 || *stores == "" {
			return daemon.UsageError(stderr, "imgctl predistribute: want -stores DIR,DIR,... REFERENCE")
		}
		if *basePort <= 0 || *basePort >= 32768 {
			return fmt.Errorf("predistribute: base port %d outside 1..32767", *basePort)
		}
		img, err := loadImage(ctx, args[0], *insecure)
		if err != nil {
			return err
		}
		if *name == "" {
			*name = args[0]
		}
		var nodes []imagefs.Node
		for k, dir := range strings.Split(*stores, ",") {
			s, err := imagefs.OpenStore(ctx, imagefs.DefaultStoreConfig(dir))
			if err != nil {
				return err
			}
			addr := fmt.Sprintf("127.0.0.1:%d", *basePort+k)
			var lc net.ListenConfig
			l, err := lc.Listen(ctx, "tcp", addr)
			if err != nil {
				return fmt.Errorf("predistribute: node %s: %w", dir, err)
			}
			srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
			go func() { _ = srv.Serve(l) }()
			defer srv.Close()
			nodes = append(nodes, imagefs.Node{Store: s, URL: "http://" + addr})
		}
		start := time.Now()
		results, err := imagefs.Predistribute(ctx, img, *name, nodes, imagefs.DistributeConfig{Fanout: *fanout})
		for _, r := range results {
			fmt.Fprintf(out, "%s: %d fetched (%d from peers, %d bytes), %d unpacked, err=%v\n", r.URL, r.Result.Fetched, r.Result.FromSources, r.Result.Bytes, r.Result.Unpacked, r.Err)
		}
		fmt.Fprintf(out, "%d nodes in %v\n", len(nodes), time.Since(start).Round(time.Millisecond))
		return err
	}
}

func cmdPrepare(fs *flag.FlagSet) daemon.Action {
	store := fs.String("store", "", "node store directory")
	id := fs.String("id", "", "container id")
	return func(ctx context.Context, args []string, out, stderr io.Writer) error {
		if len(args) != 1 || *store == "" || *id == "" {
			return daemon.UsageError(stderr, "imgctl prepare: want -store DIR -id ID IMAGE")
		}
		s, err := imagefs.OpenStore(ctx, imagefs.DefaultStoreConfig(*store))
		if err != nil {
			return err
		}
		start := time.Now()
		r, err := s.Prepare(ctx, args[0], *id)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s (upper %s) in %v\n", r.Path, r.Upper, time.Since(start).Round(time.Microsecond))
		return nil
	}
}

func cmdRelease(fs *flag.FlagSet) daemon.Action {
	store := fs.String("store", "", "node store directory")
	id := fs.String("id", "", "container id")
	return func(ctx context.Context, args []string, _, stderr io.Writer) error {
		if *store == "" || *id == "" {
			return daemon.UsageError(stderr, "imgctl release: want -store DIR -id ID")
		}
		s, err := imagefs.OpenStore(ctx, imagefs.DefaultStoreConfig(*store))
		if err != nil {
			return err
		}
		return s.Release(ctx, *id)
	}
}

func cmdServe(fs *flag.FlagSet) daemon.Action {
	store := fs.String("store", "", "node store directory")
	addr := fs.String("addr", "127.0.0.1:18080", "address to serve the store's blobs on")
	return func(ctx context.Context, args []string, out, stderr io.Writer) error {
		if *store == "" {
			return daemon.UsageError(stderr, "imgctl serve: want -store DIR")
		}
		s, err := imagefs.OpenStore(ctx, imagefs.DefaultStoreConfig(*store))
		if err != nil {
			return err
		}
		var lc net.ListenConfig
		l, err := lc.Listen(ctx, "tcp", *addr)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			<-ctx.Done()
			_ = srv.Close()
		}()
		fmt.Fprintf(out, "serving %s on http://%s\n", *store, l.Addr())
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
