package route

import (
	"net/netip"
	"testing"

	"github.com/sockd/sockd/config"
)

func TestLocalAddr(t *testing.T) {
	t.Parallel()
	a := netip.MustParseAddr
	mask := func(ip, m string) config.Addr { return config.Addr{Kind: config.AddrMask, IP: a(ip), Mask: a(m)} }
	pattern := func(p string) config.Addr { return config.Addr{Kind: config.AddrPattern, Pattern: p} }
	routes := &config.RouteConf{Routes: []config.Route{
		{If: a("10.0.0.1"), Dst: pattern(".corp.example")},
		{If: a("10.1.0.1"), Dst: mask("192.0.2.0", "255.255.255.0")},
		{If: a("2001:db8::1"), Dst: mask("2001:db8:1::", "ffff:ffff:ffff::")},
		{If: a("2001:db8::2"), Dst: mask("0.0.0.0", "0.0.0.0")}, // any address, but IPv6 only
		{If: a("10.9.9.9"), Dst: config.Addr{Kind: config.AddrAny}},
	}}
	for _, tc := range []struct {
		ip, name, want string
	}{
		{"192.0.2.5", "", "10.1.0.1"},
		{"192.0.2.5", "WWW.Corp.Example.", "10.0.0.1"}, // a name pattern matches the name sent, in any case
		{"", "corp.example", "10.0.0.1"},               // the zone itself
		{"", "othercorp.example", "2001:db8::2"},       // not in the zone; a name alone meets the all-zero mask
		{"2001:db8:1::7", "", "2001:db8::1"},
		{"2001:db8:2::7", "", "2001:db8::2"},
		{"198.51.100.1", "", "10.9.9.9"}, // the all-zero mask's IPv6 interface cannot reach it
	} {
		var ip netip.Addr
		if tc.ip != "" {
			ip = a(tc.ip)
		}
		if got := LocalAddr(routes, ip, tc.name); got.String() != tc.want {
			t.Errorf("LocalAddr(%s, %q) = %v, want %s", tc.ip, tc.name, got, tc.want)
		}
	}
	if got := LocalAddr(nil, a("192.0.2.5"), ""); got.IsValid() {
		t.Errorf("without a route file: %v", got)
	}
	if got := LocalAddr(&config.RouteConf{Routes: routes.Routes[:2]}, a("198.51.100.1"), ""); got.IsValid() {
		t.Errorf("no line matches: %v", got)
	}
}
