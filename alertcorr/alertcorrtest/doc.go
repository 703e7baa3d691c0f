// Package alertcorrtest holds the conformance suites for the interfaces
// alertcorr's users implement: a TopologySource (the platform's inventory,
// a CMDB export) and a Notifier.
//
//	func TestInventorySource(t *testing.T) {
//		alertcorrtest.TopologySource(t, myInventory)
//	}
package alertcorrtest
