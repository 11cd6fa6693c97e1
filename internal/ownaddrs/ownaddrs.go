// Package ownaddrs answers whether a destination is one of the daemon's
// own listeners: a CONNECT there would make the server its own client,
// and a client could nest CONNECTs through it to multiply its sessions (a
// proxy loop). A Set is built from the listeners' addresses whenever a
// listener comes or goes, and is read without locks by every session.
//
// It only answers the question: the server (internal/server) keeps the
// set current, refuses the request and logs why; the rules play no part.
package ownaddrs

import (
	"net"
	"net/netip"
)

// Set is the addresses a daemon listens on. It is never changed once
// made, so it is safe for concurrent use. The nil *Set holds nothing.
type Set struct {
	exact    map[netip.AddrPort]struct{}
	anyPorts map[uint16]struct{}     // listeners on 0.0.0.0 or ::
	local    map[netip.Addr]struct{} // the host's addresses, with anyPorts
}

// New returns the set of the listeners at addrs (invalid ones are
// skipped). The host's addresses are read here when a listener is on
// 0.0.0.0 or ::, since every one of them then reaches it.
func New(addrs []netip.AddrPort) *Set {
	o := &Set{exact: map[netip.AddrPort]struct{}{}, anyPorts: map[uint16]struct{}{}}
	for _, ap := range addrs {
		if !ap.IsValid() {
			continue
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
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
	return o
}

// Contains reports whether a connect to ap would reach one of the
// listeners: the address itself, or any local address on the port of a
// listener on 0.0.0.0 or :: (0.0.0.0 and loopback reach the host too).
func (o *Set) Contains(ap netip.AddrPort) bool {
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
