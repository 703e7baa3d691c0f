package imagefs

// DecoderReservations returns the bytes of zstd window s has reserved for
// layers decoding now, and the most it ever reserved at once.
func DecoderReservations(s *Store) (now, peak int64) { return s.reserved.Load(), s.peak.Load() }

// StoreConfigOf returns the configuration s runs with, defaults applied.
func StoreConfigOf(s *Store) StoreConfig { return s.cfg }

// WithDefaults returns the configurations as their users run them.
func (c RemoteConfig) WithDefaults() (RemoteConfig, error)           { return c.withDefaults() }
func (cfg DistributeConfig) WithDefaults() (DistributeConfig, error) { return cfg.withDefaults() }
func (l Limits) WithDefaults() Limits                                { return l.withDefaults() }
