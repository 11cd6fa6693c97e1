// Package udppool reads datagrams without holding a buffer while none
// arrives: a relay that waits on many idle UDP sockets (one per SOCKS5
// association) would otherwise hold a 64 KB buffer for each of them for
// its whole life. A reader waits for the socket to become readable (the
// runtime's poller tells it), and only then takes a buffer from a pool,
// reads the datagram into it, hands it on and gives it back.
package udppool

import (
	"net"
	"net/netip"
	"sync"
	"syscall"
)

// BufSize holds any UDP datagram (65,507 bytes of IPv4 payload, a little
// more over IPv6 without jumbograms).
const BufSize = 64 * 1024

var bufs sync.Pool

// get returns a buffer of room+BufSize bytes.
func get(room int) *[]byte {
	if bp, ok := bufs.Get().(*[]byte); ok && cap(*bp) >= room+BufSize {
		*bp = (*bp)[:room+BufSize]
		return bp
	}
	b := make([]byte, room+BufSize)
	return &b
}

// Recv passes each datagram arriving on c to fn until fn returns false
// (Recv returns nil) or c is closed or fails (Recv returns that error).
// fn gets a pooled buffer whose first room
// bytes are free (headroom, for a header written in place) and whose
// datagram is buf[room:room+n]; the buffer is fn's only until it returns.
// Datagrams longer than BufSize (truncated) and errors a UDP socket
// reports for an earlier send (ICMP unreachable) are skipped.
func Recv(c *net.UDPConn, room int, fn func(buf []byte, n int, from netip.AddrPort) bool) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	for {
		var (
			bp   *[]byte
			n    int
			sa   syscall.Sockaddr
			rerr error
		)
		err := rc.Read(func(fd uintptr) bool {
			bp = get(room)
			n, sa, rerr = syscall.Recvfrom(int(fd), (*bp)[room:], syscall.MSG_TRUNC)
			if rerr == syscall.EAGAIN || rerr == syscall.EINTR {
				bufs.Put(bp)
				bp = nil
				return false // nothing yet: wait, holding no buffer
			}
			return true
		})
		if err != nil {
			if bp != nil {
				bufs.Put(bp)
			}
			return err
		}
		more := true
		if from, ok := addrPort(sa); rerr == nil && ok && n <= BufSize {
			more = fn(*bp, n, from)
		}
		bufs.Put(bp)
		if !more {
			return nil
		}
	}
}

func addrPort(sa syscall.Sockaddr) (netip.AddrPort, bool) {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)), true
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port)), true
	}
	return netip.AddrPort{}, false
}
