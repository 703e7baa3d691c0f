package netvlan

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"unsafe"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// openNetns opens the network namespace bound at path (/run/netns/NAME,
// /proc/PID/ns/net).
func openNetns(path string) (netns.NsHandle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return -1, newError(ErrNotFound, "network namespace %s does not exist", path)
		}
		return -1, wrapError(ErrUnavailable, err, "open network namespace %s", path)
	}
	return ns, nil
}

// inNetns runs f on an OS thread that is inside ns for the duration of f.
// The thread is a fresh one locked to a goroutine of its own: if moving it
// back to its own namespace fails, it stays locked and Go retires it when
// the goroutine ends, so no goroutine ever runs in the wrong namespace.
// Everything f creates that is bound to a namespace (sockets, netlink
// handles) stays in ns after f returns.
func inNetns(ns netns.NsHandle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- wrapError(ErrUnavailable, err, "read own network namespace")
			return // the thread dies with the goroutine
		}
		defer func() { _ = orig.Close() }()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- wrapError(ErrUnavailable, err, "enter network namespace")
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			// Still locked: the thread is discarded.
			if ferr != nil {
				errc <- wrapError(errKind(ferr), ferr, "in network namespace (and then could not return from it: %v)", err)
				return
			}
			errc <- wrapError(ErrUnavailable, err, "return from network namespace")
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// handleAt returns a netlink handle whose sockets live in ns.
func handleAt(ns netns.NsHandle) (*netlink.Handle, error) {
	var h *netlink.Handle
	err := inNetns(ns, func() error {
		var err error
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "netlink in network namespace")
	}
	return h, nil
}

// disableIPv6 turns IPv6 off on the interface name in ns
// (net.ipv6.conf.NAME.disable_ipv6=1), before it comes up. A switch port
// needs no address, and without IPv6 the interface gets no link-local
// address and no fe80::/64 or ff00::/8 route: every route change makes
// ovs-vswitchd dump the routing table and re-read every interface's
// addresses, work that grows with the number of ports. A kernel without
// IPv6 needs nothing.
func disableIPv6(ns netns.NsHandle, name string) error {
	return inNetns(ns, func() error {
		// /proc/sys/net shows the namespace of the thread that opens it.
		err := os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("1\n"), 0o644)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	})
}

// containerNetns is an open container namespace: a netlink handle and an
// ioctl socket inside it.
type containerNetns struct {
	ns   netns.NsHandle
	h    *netlink.Handle
	sock int
}

func openContainerNetns(path string) (*containerNetns, error) {
	ns, err := openNetns(path)
	if err != nil {
		return nil, err
	}
	c := &containerNetns{ns: ns, sock: -1}
	err = inNetns(ns, func() error {
		var err error
		if c.h, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return err
		}
		c.sock, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		c.close()
		return nil, wrapError(ErrUnavailable, err, "open network namespace %s", path)
	}
	return c, nil
}

func (c *containerNetns) close() {
	if c.h != nil {
		c.h.Close()
	}
	if c.sock >= 0 {
		_ = unix.Close(c.sock)
	}
	_ = c.ns.Close()
}

// ethtool commands (linux/ethtool.h).
const (
	ethtoolGTXCSUM = 0x16
	ethtoolSTXCSUM = 0x17
)

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqData is struct ifreq with ifr_data set, padded to the kernel's 40
// bytes.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

// ethtool runs one ethtool_value command on the interface name through the
// SIOCETHTOOL ioctl on sock, and returns the value the kernel wrote back.
func ethtool(sock int, name string, cmd, data uint32) (uint32, error) {
	v := ethtoolValue{cmd: cmd, data: data}
	var ifr ifreqData
	copy(ifr.name[:unix.IFNAMSIZ-1], name)
	ifr.data = unsafe.Pointer(&v)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(sock), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&v)
	if errno != 0 {
		return 0, errno
	}
	return v.data, nil
}

// setTxChecksum turns transmit checksum offload of name on or off, as
// `ethtool -K name tx off` does.
func (c *containerNetns) setTxChecksum(name string, on bool) error {
	var data uint32
	if on {
		data = 1
	}
	if _, err := ethtool(c.sock, name, ethtoolSTXCSUM, data); err != nil {
		return wrapError(ErrUnavailable, err, "set tx checksum offload of %s", name)
	}
	return nil
}

// txChecksum reports whether transmit checksum offload of name is on.
func (c *containerNetns) txChecksum(name string) (bool, error) {
	v, err := ethtool(c.sock, name, ethtoolGTXCSUM, 0)
	if err != nil {
		return false, wrapError(ErrUnavailable, err, "read tx checksum offload of %s", name)
	}
	return v != 0, nil
}

// macFor returns the MAC for a container: 0a:58 followed by the IPv4
// address, as OVN and Kubernetes do, so that an address always maps to the
// same MAC and neighbours' ARP caches stay right across restarts; without an
// address, a random locally administered unicast MAC.
func macFor(addr netip.Addr) net.HardwareAddr {
	if addr.Is4() {
		a := addr.As4()
		return net.HardwareAddr{0x0a, 0x58, a[0], a[1], a[2], a[3]}
	}
	mac := make(net.HardwareAddr, 6)
	randomBytes(mac)
	mac[0] = (mac[0] | 0x02) &^ 0x01
	return mac
}
