package netvlan

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/netvlan/ovsmodel"
)

// Rate limits are bounded to what tc can express and what is still a
// network: 8 kbit/s to 100 Gbit/s.
const (
	minRate = 8_000
	maxRate = 100_000_000_000
)

// RateLimit caps a container's traffic in bits per second; zero is
// unlimited.
type RateLimit struct {
	Egress  uint64 // what the container sends
	Ingress uint64 // what the container receives
}

// IsZero reports whether r limits nothing.
func (r RateLimit) IsZero() bool { return r.Egress == 0 && r.Ingress == 0 }

func (r RateLimit) check() error {
	for _, v := range []uint64{r.Egress, r.Ingress} {
		if v != 0 && (v < minRate || v > maxRate) {
			return newError(ErrInvalid, "rate %d bit/s out of range %d..%d", v, uint64(minRate), uint64(maxRate))
		}
	}
	return nil
}

// String returns "egress=N,ingress=M" in bits per second, the form
// ParseRateLimit reads and external_ids:shoal-rate records.
func (r RateLimit) String() string {
	return "egress=" + strconv.FormatUint(r.Egress, 10) + ",ingress=" + strconv.FormatUint(r.Ingress, 10)
}

// ParseRateLimit parses "egress=N,ingress=M" (either may be left out).
func ParseRateLimit(s string) (RateLimit, error) {
	var r RateLimit
	if s == "" {
		return r, nil
	}
	for f := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		n, err := strconv.ParseUint(v, 10, 64)
		if !ok || err != nil {
			return RateLimit{}, newError(ErrInvalid, "rate limit %q: want egress=BITS,ingress=BITS", s)
		}
		switch k {
		case "egress":
			r.Egress = n
		case "ingress":
			r.Ingress = n
		default:
			return RateLimit{}, newError(ErrInvalid, "rate limit %q: unknown direction %q", s, k)
		}
	}
	return r, r.check()
}

// RateMode says how one direction of a rate limit is enforced.
type RateMode string

// The ways netvlan enforces rate limits, best first. Egress (what the
// container sends) uses OVS ingress policing when the kernel has the tc
// police action, and a tbf qdisc on the container's interface otherwise:
// ingress_policing_rate is silently a no-op without police. Ingress (what
// the container receives) uses an OVS linux-htb QoS on the host port, and a
// tbf qdisc on the host end when ovs-vswitchd did not install it.
const (
	RateUnlimited   RateMode = ""              // no limit
	RateOVSPolicing RateMode = "ovs-policing"  // Interface.ingress_policing_rate
	RateTBF         RateMode = "container-tbf" // tbf qdisc on the container's interface
	RateOVSHTB      RateMode = "ovs-linux-htb" // QoS linux-htb on the host port
	RateHostTBF     RateMode = "host-tbf"      // tbf qdisc on the host end
)

// external_ids keys of the rate limit.
const (
	keyRate        = "shoal-rate"
	keyRateEgress  = "shoal-rate-egress"
	keyRateIngress = "shoal-rate-ingress"
)

// tbfLatency is how long a packet may wait in a tbf qdisc before it is
// dropped: long enough for TCP to settle on the rate.
const tbfLatency = 50 * time.Millisecond

// burstBytes sizes the token bucket: 10 ms at the rate, at least a few
// full frames so that TCP can run at the limit.
func burstBytes(bitsPerSec uint64) uint32 {
	return uint32(max(bitsPerSec/8/100, 4*1514+64))
}

// tbf returns a root tbf qdisc for link at bitsPerSec.
func tbf(link netlink.Link, bitsPerSec uint64) *netlink.Tbf {
	rate := bitsPerSec / 8
	burst := burstBytes(bitsPerSec)
	return &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: link.Attrs().Index,
			Handle:    netlink.MakeHandle(1, 0),
			Parent:    netlink.HANDLE_ROOT,
		},
		Rate:   rate,
		Buffer: netlink.Xmittime(rate, burst),
		Limit:  uint32(uint64(burst) + rate*uint64(tbfLatency)/uint64(time.Second)),
	}
}

// policeWorks probes once whether the kernel has the tc police action, by
// installing a policer on link's ingress and removing it again.
func (s *Switch) policeWorks(link netlink.Link) bool {
	s.probe.Do(func() {
		h := s.host.h
		ingress := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS,
		}}
		if err := h.QdiscAdd(ingress); err != nil {
			s.log.Info("netvlan: no ingress qdisc: rate limits use tbf", "err", err)
			return
		}
		defer func() { _ = h.QdiscDel(ingress) }()
		police := netlink.NewPoliceAction()
		police.Rate, police.Burst = 125_000, 10_000
		police.ExceedAction = netlink.TC_POLICE_SHOT
		filter := &netlink.MatchAll{
			FilterAttrs: netlink.FilterAttrs{
				LinkIndex: link.Attrs().Index, Parent: netlink.MakeHandle(0xffff, 0), Priority: 1, Protocol: unix.ETH_P_ALL,
			},
			Actions: []netlink.Action{police},
		}
		if err := h.FilterAdd(filter); err != nil {
			s.log.Info("netvlan: kernel has no tc police action: ingress_policing_rate would be a no-op, using tbf", "err", err)
			return
		}
		s.police = true
	})
	return s.police
}

// applyEgress limits what the container sends, before the port exists in
// OVSDB: with police it only sets the Interface columns the transaction
// will write; without, it installs tbf on the container's interface.
func (s *Switch) applyEgress(cns *containerNetns, a *Attachment, iface *ovsmodel.Interface) (RateMode, error) {
	if a.Rate.Egress == 0 {
		return RateUnlimited, nil
	}
	host, err := s.host.h.LinkByName(iface.Name)
	if err != nil {
		return "", wrapError(ErrUnavailable, err, "container %s: find host end", a.ContainerID)
	}
	if s.policeWorks(host) {
		iface.IngressPolicingRate = int(a.Rate.Egress / 1000) // kbit/s
		iface.IngressPolicingBurst = int(burstBytes(a.Rate.Egress) * 8 / 1000)
		return RateOVSPolicing, nil
	}
	link, err := cns.h.LinkByName(a.IfName)
	if err != nil {
		return "", wrapError(ErrUnavailable, err, "container %s: find %s", a.ContainerID, a.IfName)
	}
	if err := cns.h.QdiscReplace(tbf(link, a.Rate.Egress)); err != nil {
		return "", wrapError(ErrUnavailable, err, "container %s: tbf qdisc on %s", a.ContainerID, a.IfName)
	}
	return RateTBF, nil
}

// htbRows returns the Queue and QoS rows of a linux-htb limit at
// bitsPerSec, with named UUIDs built from n.
func htbRows(bitsPerSec uint64, owner, n string) (ovsmodel.Queue, ovsmodel.QoS) {
	rate := strconv.FormatUint(bitsPerSec, 10)
	ids := map[string]string{keyOwner: owner}
	q := ovsmodel.Queue{UUID: "queue_" + n, OtherConfig: map[string]string{"max-rate": rate}, ExternalIDs: ids}
	qos := ovsmodel.QoS{
		UUID: "qos_" + n, Type: "linux-htb",
		OtherConfig: map[string]string{"max-rate": rate},
		Queues:      map[int]string{0: q.UUID},
		ExternalIDs: ids,
	}
	return q, qos
}

// confirmIngress checks that ovs-vswitchd installed the htb qdisc on the
// host end; when it did not within a second, it installs tbf there itself.
func (s *Switch) confirmIngress(ctx context.Context, name string, bitsPerSec uint64) (RateMode, error) {
	link, err := s.host.h.LinkByName(name)
	if err != nil {
		return "", wrapError(ErrUnavailable, err, "find host end %s", name)
	}
	deadline := time.Now().Add(time.Second)
	for {
		qs, err := s.host.h.QdiscList(link)
		if err == nil {
			for _, q := range qs {
				if q.Type() == "htb" && q.Attrs().Parent == netlink.HANDLE_ROOT {
					return RateOVSHTB, nil
				}
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.host.h.QdiscReplace(tbf(link, bitsPerSec)); err != nil {
		return "", wrapError(ErrUnavailable, err, "tbf qdisc on host end %s", name)
	}
	return RateHostTBF, nil
}

// qosOf returns the queues of the QoS row uuid, and whether it exists.
func (s *Switch) qosOf(ctx context.Context, uuid string) ([]string, bool) {
	q := &ovsmodel.QoS{UUID: uuid}
	if err := s.ovs.Get(ctx, q); err != nil {
		return nil, false
	}
	var queues []string
	for _, u := range q.Queues {
		queues = append(queues, u)
	}
	return queues, true
}
