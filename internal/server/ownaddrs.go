package server

import (
	"net"
	"net/netip"

	"github.com/sockd/sockd/internal/logline"
)

// ownAddrs are the addresses the server listens on: a CONNECT to one of
// them would make the server its own client, and a client could nest
// CONNECTs through it to multiply its sessions (a proxy loop).
type ownAddrs struct {
	exact    map[netip.AddrPort]struct{}
	anyPorts map[uint16]struct{}     // listeners on 0.0.0.0 or ::
	local    map[netip.Addr]struct{} // the host's addresses, with anyPorts
}

// listenersChanged rebuilds the set of own addresses; the caller holds
// s.mu. The host's addresses are read when a listener on 0.0.0.0 or ::
// comes or goes.
func (s *Server) listenersChanged() {
	o := &ownAddrs{exact: map[netip.AddrPort]struct{}{}, anyPorts: map[uint16]struct{}{}}
	for ln := range s.listeners {
		ap := unmapAP(ln.Addr())
		if !ap.IsValid() {
			continue
		}
		if ap.Addr().IsUnspecified() {
			o.anyPorts[ap.Port()] = struct{}{}
		} else {
			o.exact[ap] = struct{}{}
		}
	}
	if len(o.anyPorts) > 0 {
		o.local = map[netip.Addr]struct{}{}
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if p, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(p.IP); ok {
						o.local[ip.Unmap()] = struct{}{}
					}
				}
			}
		}
	}
	s.own.Store(o)
}

// isOwnListener reports whether a connect to ap would reach one of the
// server's listeners: the address itself, or any local address on the
// port of a listener on 0.0.0.0 or :: (0.0.0.0 and loopback reach the
// host too).
func (s *Server) isOwnListener(ap netip.AddrPort) bool {
	o := s.own.Load()
	if o == nil {
		return false
	}
	ip := ap.Addr().Unmap()
	if _, ok := o.exact[netip.AddrPortFrom(ip, ap.Port())]; ok {
		return true
	}
	if ip.IsUnspecified() {
		for e := range o.exact {
			if e.Port() == ap.Port() {
				return true
			}
		}
	}
	if _, ok := o.anyPorts[ap.Port()]; ok {
		if ip.IsLoopback() || ip.IsUnspecified() {
			return true
		}
		_, ok := o.local[ip]
		return ok
	}
	return false
}

// proxyLoop reports (and logs) a CONNECT to the server's own listener,
// which is refused whatever the rules say.
func (ss *session) proxyLoop(ip netip.Addr, port uint16, lr logline.Request) bool {
	if !ss.s.isOwnListener(netip.AddrPortFrom(ip, port)) {
		return false
	}
	ss.s.log.Warn(logline.Refused(lr)+": the destination is this server's own listener (a proxy loop)",
		"client", ss.src.String(), "destination", netip.AddrPortFrom(ip, port).String())
	return true
}
