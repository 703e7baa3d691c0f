package keylock_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoalkit/shoal/internal/keylock"
)

func TestOneHolderPerKeyAndBounded(t *testing.T) {
	var l keylock.Locks
	var inside [4]atomic.Int32
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := i % 4
			unlock := l.Lock(fmt.Sprint(k))
			if n := inside[k].Add(1); n != 1 {
				t.Errorf("key %d held by %d at once", k, n)
			}
			inside[k].Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	if n := l.Len(); n != 0 {
		t.Errorf("%d entries left after every holder left", n)
	}
}

func TestOtherKeysGoOn(t *testing.T) {
	var l keylock.Locks
	unlockA := l.Lock("a")
	done := make(chan struct{})
	go func() { l.Lock("b")(); close(done) }()
	<-done // b is taken and freed while a is held
	unlockA()
}

func ExampleLocks() {
	var locks keylock.Locks
	unlock := locks.Lock("web-1")
	fmt.Println(locks.Len())
	unlock()
	fmt.Println(locks.Len())
	// Output:
	// 1
	// 0
}
