package server

import (
	"net/netip"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/ownaddrs"
)

// listenersChanged rebuilds the set of the server's own addresses; the
// caller holds s.mu.
func (s *Server) listenersChanged() {
	addrs := make([]netip.AddrPort, 0, len(s.listeners))
	for ln := range s.listeners {
		addrs = append(addrs, unmapAP(ln.Addr()))
	}
	s.own.Store(ownaddrs.New(addrs))
}

// proxyLoop reports (and logs) a CONNECT to the server's own listener,
// which is refused whatever the rules say.
func (ss *session) proxyLoop(ip netip.Addr, port uint16, lr logline.Request) bool {
	if !ss.s.own.Load().Contains(netip.AddrPortFrom(ip, port)) {
		return false
	}
	ss.s.log.Warn(logline.Refused(lr)+": the destination is this server's own listener (a proxy loop)",
		"client", ss.src.String(), "destination", netip.AddrPortFrom(ip, port).String())
	return true
}
