//go:build unix

package netfd

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// AddrPort is the address of an IPv4 or IPv6 socket address (IPv4-mapped
// addresses unmapped); anything else is the invalid AddrPort. It takes
// syscall's Sockaddr, which syscall.Accept4 and syscall.Getsockname
// return.
func AddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// Sockaddr is ap for a socket of family (an IPv4 address on an IPv6
// socket is IPv4-mapped).
func Sockaddr(ap netip.AddrPort, family int) unix.Sockaddr {
	if family == unix.AF_INET {
		return &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	}
	return &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}
}

// LocalAddr is the local address of a socket, invalid on error.
func LocalAddr(fd int) netip.AddrPort {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}
	}
	return AddrPort(sa)
}

// TCPConn turns a connected TCP socket's descriptor into a *net.TCPConn,
// which then owns the socket: net.FileConn works on a duplicate, and fd
// itself is closed, whatever happens.
func TCPConn(fd int) (*net.TCPConn, error) {
	f := os.NewFile(uintptr(fd), "")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, errors.New("not a TCP connection")
	}
	return tc, nil
}
