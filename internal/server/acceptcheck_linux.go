package server

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// refusedAtAcceptFd is refusedAtAccept for a socket the event loop
// accepted: the local address is asked of the socket itself, so that
// daemon@host rules see the address the client reached, as in Serve.
func (s *Server) refusedAtAcceptFd(fd int, client netip.AddrPort) bool {
	var local netip.AddrPort
	if sa, err := unix.Getsockname(fd); err == nil {
		switch a := sa.(type) {
		case *unix.SockaddrInet4:
			local = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
		case *unix.SockaddrInet6:
			local = netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
		}
	}
	return s.refusedAt(client, local)
}
