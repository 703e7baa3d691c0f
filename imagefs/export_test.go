package imagefs

// DecoderReservations returns the bytes of zstd window s has reserved for
// layers decoding now, and the most it ever reserved at once.
func DecoderReservations(s *Store) (now, peak int64) { return s.reserved.Load(), s.peak.Load() }
