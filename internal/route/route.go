// Package route answers which local address an outgoing connection
// leaves from, as sockd.route says (4.3's RBIND and multi-homed hosts):
// the interface of the first line whose destination matches, by address
// and mask or by the name the client sent.
//
// It only answers: the route file is parsed by grammar and loaded by
// internal/load, the server (internal/server) binds its connects and BIND
// listeners to the answer and falls back to the system's choice, and a
// rules file's lines are matched by package policy. rsockd's socks.conf
// routes to upstream servers are package client's.
package route

import (
	"net/netip"
	"strings"

	"github.com/sockd/sockd/config"
)

// LocalAddr returns the interface address the route file names for a
// destination (ip, and name when the request carried one), or an invalid
// Addr when there is no route file or no line matches: the system then
// picks the interface, where 4.2 logged "Cannot find appropriate interface"
// and exited. Lines are tried in order; the first match wins, as in 4.3.
//
// A name pattern is tested against the name the client sent (SOCKS4a,
// SOCKS5); the daemon does not reverse-resolve destinations for routing.
func LocalAddr(routes *config.RouteConf, ip netip.Addr, name string) netip.Addr {
	if routes == nil {
		return netip.Addr{}
	}
	for i := range routes.Routes {
		r := &routes.Routes[i]
		if addrMatches(r.Dst, ip, name) {
			if ip.IsValid() && r.If.Unmap().Is4() != ip.Unmap().Is4() {
				continue // an interface of the other family cannot reach it
			}
			return r.If.Unmap()
		}
	}
	return netip.Addr{}
}

// addrMatches is the 4.3 test of one "addr mask" pair: (cfg & mask) ==
// (addr & mask), an all-zero mask matching any address of either family;
// for a name pattern, ALL, an exact name or a .zone.
func addrMatches(a config.Addr, ip netip.Addr, name string) bool {
	switch a.Kind {
	case config.AddrAny:
		return true
	case config.AddrPattern:
		p := strings.ToLower(strings.TrimSuffix(a.Pattern, "."))
		if p == "all" {
			return true
		}
		n := strings.ToLower(strings.TrimSuffix(name, "."))
		if n == "" {
			return false
		}
		if strings.HasPrefix(p, ".") {
			return n == p[1:] || strings.HasSuffix(n, p)
		}
		return n == p
	case config.AddrMask:
		mask := a.Mask.Unmap().AsSlice()
		zero := true
		for _, b := range mask {
			if b != 0 {
				zero = false
			}
		}
		if zero {
			return true
		}
		if !ip.IsValid() {
			return false
		}
		cfg := a.IP.Unmap().AsSlice()
		got := ip.Unmap().AsSlice()
		if len(cfg) != len(got) || len(mask) != len(got) {
			return false
		}
		for i := range got {
			if cfg[i]&mask[i] != got[i]&mask[i] {
				return false
			}
		}
		return true
	}
	return false
}
