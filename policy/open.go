package policy

import (
	"errors"
	"net/netip"
)

// openProbes are requests an outsider could make: a client from
// documentation networks (never a real peer, so no rule names them on
// purpose) with no user name and no identd, to a public address on a
// common port.
var openProbes = []Request{
	{Command: CmdConnect, SrcIP: netip.MustParseAddr("198.51.100.7"), SrcPort: 40000,
		DstIP: netip.MustParseAddr("203.0.113.9"), DstPort: 80},
	{Command: CmdConnect, SrcIP: netip.MustParseAddr("2001:db8::7"), SrcPort: 40000,
		DstIP: netip.MustParseAddr("2001:db8:1::9"), DstPort: 443},
}

var errNoIdentd = errors.New("no identd")

// PermitsAnyone reports whether the rules let an arbitrary outside client
// through: the rule set of an open proxy, which the daemon warns about on
// a listener other hosts can reach.
func (p *Policy) PermitsAnyone() bool {
	for _, probe := range openProbes {
		req := probe
		req.Ident = func() (string, error) { return "", errNoIdentd }
		if p.Decide(&req, nil).Permit {
			return true
		}
	}
	return false
}
