package alertcorrtest_test

import (
	"context"
	"testing"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/alertcorr/alertcorrtest"
)

// inventory is a TopologySource a platform might write.
type inventory []alertcorr.Entity

func (inv inventory) Entities(ctx context.Context, yield func(alertcorr.Entity) error) error {
	for _, e := range inv {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := yield(e); err != nil {
			return err
		}
	}
	return nil
}

// A TopologySource checked by the suite, as a test of its own would.
func ExampleTopologySource() {
	inv := inventory{
		{Kind: alertcorr.KindHost, ID: "h1"},
		{Kind: alertcorr.KindApp, ID: "shop"},
		{Kind: alertcorr.KindContainer, ID: "c1", Parent: "h1", App: "shop"},
	}
	// In the inventory's own tests:
	testInventory := func(t *testing.T) { alertcorrtest.TopologySource(t, inv) }
	_ = testInventory
}
