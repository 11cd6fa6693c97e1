package server

import "net/netip"

// outboundAddr is the local address an outgoing connection to dst leaves
// from: the route file's interface for it; else, with SameInterface
// (srelay's -g), the address the client connected to, when it is of dst's
// family (srelay asked getaddrinfo for that family only); else none (the
// system chooses). local returns the session's local address when the
// session does not know it (an event-loop session); nil means ss.local.
func (ss *session) outboundAddr(dst netip.Addr, name string, local func() netip.AddrPort) netip.Addr {
	if la := localAddrFor(ss.snap.routes, dst, name); la.IsValid() || !ss.s.opts.SameInterface {
		return la
	}
	l := ss.local
	if !l.IsValid() && local != nil {
		l = local()
	}
	a := l.Addr().Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.Is4() != dst.Unmap().Is4() {
		return netip.Addr{}
	}
	return a
}
