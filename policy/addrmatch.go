package policy

import (
	"net/netip"

	"github.com/sockd/sockd/config"
)

// AddrMatcher is one destination field (an address and mask, ALL, or a
// host-name pattern) compiled as the rules and socks.conf compile theirs,
// for the other file that names destinations, sockd.route: a pattern
// means the same in every file (the package doc gives the meaning).
type AddrMatcher struct{ m addrMatcher }

// CompileAddr compiles a; it fails where a rule's field would.
func CompileAddr(a config.Addr) (AddrMatcher, error) {
	m, err := compileAddr(a)
	return AddrMatcher{m}, err
}

// Match reports whether the field accepts a destination known by its
// address (invalid when the client sent only a name) or by the name the
// client sent (empty when it sent none). Nothing is looked up.
func (m *AddrMatcher) Match(ip netip.Addr, name string) bool {
	switch m.m.kind {
	case kindAny:
		return true
	case kindMask:
		return m.m.matchIP(toAddr128(ip))
	}
	return name != "" && m.m.pat.matches(name)
}
