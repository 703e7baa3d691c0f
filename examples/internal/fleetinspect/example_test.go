package fleetinspect_test

import (
	"fmt"

	"github.com/shoalkit/shoal/examples/internal/fleetinspect"
)

// A fix order names the request that caused it and the spec version its
// report is on; a malformed one is refused naming what is wrong.
func ExampleFixOrder_Validate() {
	fmt.Println((&fleetinspect.FixOrder{ID: "req-7", Spec: 3, Nodes: []string{"n2"}}).Validate())
	fmt.Println((&fleetinspect.FixOrder{ID: "req-8"}).Validate())
	// Output:
	// <nil>
	// fleetinspect: fix order req-8: spec version 0
}

// The keys live under the platform's prefix.
func ExampleGossipKey() {
	fmt.Println(fleetinspect.SpecKey)
	fmt.Println(fleetinspect.GossipKey("node-1"))
	// Output:
	// /shoal/v1/inspect/spec
	// /shoal/v1/inspect/gossip/node-1
}
