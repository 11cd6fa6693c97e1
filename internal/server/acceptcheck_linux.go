package server

import (
	"net/netip"
	"syscall"
)

// fdLocalAddr is the local address of a socket, invalid on error.
func fdLocalAddr(fd int) netip.AddrPort {
	sa, err := syscall.Getsockname(fd) // syscall's, as accept: see there
	if err != nil {
		return netip.AddrPort{}
	}
	return sockaddrAddrPort(sa)
}
