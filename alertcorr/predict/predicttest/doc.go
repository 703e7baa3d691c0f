// Package predicttest holds the conformance suite for predict.Source.
//
//	func TestMyStore(t *testing.T) {
//		predicttest.Source(t, store, `mem_bytes`, start, end, time.Minute)
//	}
package predicttest
