package netvlan

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/shoalkit/shoal/internal/testenv"
)

func TestIntegrationConcurrentAttachesStayInHostNamespace(t *testing.T) {
	testenv.Require(t, testenv.OVS, testenv.Netns, testenv.Ping)
	sw := testenv.StartOVS(t)
	sw.AddBridge(t, "br0")
	pool, err := ParsePool(10, "10.92.0.0/24", "")
	if err != nil {
		t.Fatal(err)
	}
	s := openSwitch(t, sw, pool)
	const n = 8
	nss := make([]*testenv.Namespace, n)
	for i := range nss {
		nss[i] = testenv.NewNetns(t)
	}
	before := s.commit.txns.Load()
	ports := make([]Port, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ports[i], errs[i] = s.Attach(t.Context(), Attachment{ContainerID: fmt.Sprint("c", i), Netns: nss[i].Path, VLAN: 10})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("attach %d: %v", i, err)
		}
	}
	t.Logf("%d attaches in %d transactions", n, s.commit.txns.Load()-before)
	if bad := threadsOutside(t); len(bad) > 0 {
		t.Fatalf("threads outside the host namespace:\n%s", strings.Join(bad, "\n"))
	}
	seen := map[netip.Prefix]bool{}
	for _, p := range ports {
		if seen[p.Addr] || !p.Addr.IsValid() || p.Ofport <= 0 {
			t.Fatalf("ports = %+v", ports)
		}
		seen[p.Addr] = true
	}
	if got := strings.Fields(sw.Vsctl(t, "list-ports", "br0")); len(got) != n {
		t.Fatalf("ports on br0 = %v", got)
	}
	if !waitPing(nss[0], ports[n-1].Addr.Addr(), 3e9) {
		t.Errorf("c0 cannot reach c%d", n-1)
	}
	// Concurrent detaches too.
	for i := range n {
		wg.Go(func() { errs[i] = s.Detach(t.Context(), fmt.Sprint("c", i)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("detach %d: %v", i, err)
		}
	}
	if got := sw.Vsctl(t, "list-ports", "br0"); got != "" {
		t.Fatalf("ports left: %q", got)
	}
	if bad := threadsOutside(t); len(bad) > 0 {
		t.Fatalf("threads outside the host namespace:\n%s", strings.Join(bad, "\n"))
	}
}
