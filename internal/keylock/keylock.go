// Package keylock serialises work on one key — a container id, a volume —
// while leaving other keys free to go in parallel. An entry lives only while
// someone holds or waits for its key, so the map is bounded by the work in
// flight, not by every key ever seen.
//
//	var locks keylock.Locks
//	unlock := locks.Lock("web-1")
//	defer unlock()
package keylock

import "sync"

// Locks is a set of per-key mutexes. The zero value is ready to use; it
// must not be copied after first use.
type Locks struct {
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	mu    sync.Mutex
	users int // holders and waiters
}

// Lock waits until key is free, takes it, and returns the function that
// frees it (call it once).
func (l *Locks) Lock(key string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*entry{}
	}
	e := l.m[key]
	if e == nil {
		e = &entry{}
		l.m[key] = e
	}
	e.users++
	l.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		if e.users--; e.users == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}

// Len returns how many keys are held or waited for.
func (l *Locks) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
