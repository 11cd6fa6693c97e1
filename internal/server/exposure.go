package server

import (
	"net"
	"net/netip"
)

// isLoopbackListener reports whether only this host can reach addr.
func isLoopbackListener(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	return ok && ip.Unmap().IsLoopback()
}

// warnIfOpen warns when a listener other hosts can reach serves a rule set
// that permits everyone: an open proxy, which abusers find within hours.
func (s *Server) warnIfOpen(addr net.Addr, snap *snapshot) {
	if isLoopbackListener(addr) || !snap.policy.PermitsAnyone() {
		return
	}
	s.log.Warn("open proxy: listening on "+addr.String()+", which other hosts can reach, with rules that permit every client",
		"address", addr.String(), "file", snap.origin.Path)
}

// warnOpenListeners runs warnIfOpen for every listener (after a reload).
func (s *Server) warnOpenListeners(snap *snapshot) {
	s.mu.Lock()
	addrs := make([]net.Addr, 0, len(s.listeners))
	for ln := range s.listeners {
		addrs = append(addrs, ln.Addr())
	}
	s.mu.Unlock()
	for _, a := range addrs {
		s.warnIfOpen(a, snap)
	}
}
