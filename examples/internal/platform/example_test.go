package platform_test

import (
	"context"
	"fmt"
	"os"

	"github.com/shoalkit/shoal/examples/internal/platform"
)

// A platform of three simulated nodes, as the pilot runs it without root.
func ExampleStart() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "shoal-example-")
	defer os.RemoveAll(dir)
	p, err := platform.Start(ctx, platform.Config{Dir: dir, Agents: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	fmt.Println(len(p.Nodes), "nodes, simulated:", p.Simulated)
	// Output: 3 nodes, simulated: true
}
