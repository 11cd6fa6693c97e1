package server

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// refusedAtAcceptFd is refusedAtAccept for a socket the event loop
// accepted: the local address is asked of the socket itself, so that
// daemon@host rules see the address the client reached, as in Serve.
func (s *Server) refusedAtAcceptFd(fd int, client netip.AddrPort) bool {
	local := fdLocalAddr(fd)
	return s.refusedAt(client, local)
}

// fdLocalAddr is the local address of a socket, invalid on error.
func fdLocalAddr(fd int) netip.AddrPort {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}
