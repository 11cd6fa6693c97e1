package server

// The accept check (Options.AcceptCheck, e.g. tcp_wrappers' hosts.allow
// and hosts.deny) decides a connection from its addresses alone, before
// the server reads or writes any byte of it: a refused client gets no
// SOCKS reply at all, only a closed connection, as with libwrap. Both
// engines call it at accept: Serve's goroutine loop (server.go) and the
// event loops (loop_linux.go, through refusedAtAcceptFd).

import (
	"net"
	"net/netip"
)

// refusedAtAccept runs the check and logs a refusal; it is only called
// when Options.AcceptCheck is set.
func (s *Server) refusedAtAccept(client, local net.Addr) bool {
	return s.refusedAt(addrPortOf(client), addrPortOf(local))
}

func (s *Server) refusedAt(client, local netip.AddrPort) bool {
	ok, why := s.opts.AcceptCheck(client, local)
	if ok {
		return false
	}
	s.log.Warn("refused -- connect from "+client.Addr().String()+" by host access rules",
		"client", client.String(), "server", local.String(), "reason", why)
	return true
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
