// Package route answers which local address an outgoing connection
// leaves from, as sockd.route says (4.3's RBIND and multi-homed hosts):
// the interface of the first line whose destination matches, by address
// and mask or by the name the client sent.
//
// It only answers: the route file is parsed by grammar and loaded by
// internal/load, the server (internal/server) binds its connects and BIND
// listeners to the answer and falls back to the system's choice, and a
// destination field is matched by policy.AddrMatcher, as a rules file's
// is. rsockd's socks.conf routes to upstream servers are package
// client's.
package route

import (
	"fmt"
	"net/netip"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/policy"
)

// Table is a route file compiled for lookups.
type Table struct {
	lines []line
}

type line struct {
	ifAddr netip.Addr
	dst    policy.AddrMatcher
}

// Compile compiles routes (nil without a route file, giving a nil Table).
// A destination field means what it means in the rules (policy's
// AddrMatcher): one meaning of ALL, a name, a .zone and an address and
// mask for every file.
func Compile(routes *config.RouteConf) (*Table, error) {
	if routes == nil {
		return nil, nil
	}
	t := &Table{lines: make([]line, len(routes.Routes))}
	for i, r := range routes.Routes {
		m, err := policy.CompileAddr(r.Dst)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: destination: %w", routes.Source, r.Pos.Line, err)
		}
		t.lines[i] = line{ifAddr: r.If.Unmap(), dst: m}
	}
	return t, nil
}

// LocalAddr returns the interface address the route file names for a
// destination (ip, and name when the request carried one), or an invalid
// Addr when there is no route file (t is nil) or no line matches: the
// system then picks the interface, where 4.2 logged "Cannot find
// appropriate interface" and exited. Lines are tried in order; the first
// match wins, as in 4.3.
//
// A name pattern is tested against the name the client sent (SOCKS4a,
// SOCKS5); the daemon does not reverse-resolve destinations for routing.
func (t *Table) LocalAddr(ip netip.Addr, name string) netip.Addr {
	if t == nil {
		return netip.Addr{}
	}
	for i := range t.lines {
		l := &t.lines[i]
		if l.dst.Match(ip, name) {
			if ip.IsValid() && l.ifAddr.Is4() != ip.Unmap().Is4() {
				continue // an interface of the other family cannot reach it
			}
			return l.ifAddr
		}
	}
	return netip.Addr{}
}
