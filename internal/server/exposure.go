package server

import (
	"errors"
	"net"
	"net/netip"

	"github.com/sockd/sockd/policy"
)

// Requests an outsider could make: a client from documentation networks
// (never a real peer, so no rule names them on purpose) with no user name
// and no identd, to a public address on a common port.
var openProbes = []policy.Request{
	{Command: policy.CmdConnect, SrcIP: netip.MustParseAddr("198.51.100.7"), SrcPort: 40000,
		DstIP: netip.MustParseAddr("203.0.113.9"), DstPort: 80},
	{Command: policy.CmdConnect, SrcIP: netip.MustParseAddr("2001:db8::7"), SrcPort: 40000,
		DstIP: netip.MustParseAddr("2001:db8:1::9"), DstPort: 443},
}

var errNoIdentd = errors.New("no identd")

// permitsAnyone reports whether the rules let an arbitrary outside client
// through: the rule set of an open proxy.
func permitsAnyone(p *policy.Policy) bool {
	for _, probe := range openProbes {
		req := probe
		req.Ident = func() (string, error) { return "", errNoIdentd }
		if p.Decide(&req, nil).Permit {
			return true
		}
	}
	return false
}

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
	if isLoopbackListener(addr) || !permitsAnyone(snap.policy) {
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
