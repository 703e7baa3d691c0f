package imagefs

import (
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DecoderReservations returns the bytes of zstd window s has reserved for
// layers decoding now, and the most it ever reserved at once.
func DecoderReservations(s *Store) (now, peak int64) { return s.reserved.Load(), s.peak.Load() }

// StoreConfigOf returns the configuration s runs with, defaults applied.
func StoreConfigOf(s *Store) StoreConfig { return s.cfg }

// WithDefaults returns the configurations as their users run them.
func (c RemoteConfig) WithDefaults() (RemoteConfig, error)           { return c.withDefaults() }
func (cfg DistributeConfig) WithDefaults() (DistributeConfig, error) { return cfg.withDefaults() }
func (l Limits) WithDefaults() Limits                                { return l.withDefaults() }

// TreeSources returns the two sources Predistribute gives a child whose
// parent serves its store at url and has stored the given blobs.
func TreeSources(url string, stored []v1.Hash) (source, retry BlobSource) {
	b := newBlobBoard()
	for _, h := range stored {
		b.stored(h)
	}
	b.finish()
	ts := &treeSource{board: b, peer: Peer{URL: url, StallTimeout: time.Minute}, timeout: time.Minute, streamed: map[v1.Hash]int{}}
	return ts, treeRetry{ts}
}
