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
		if got := compile(t, routes).LocalAddr(ip, tc.name); got.String() != tc.want {
			t.Errorf("LocalAddr(%s, %q) = %v, want %s", tc.ip, tc.name, got, tc.want)
		}
	}
	if got := compile(t, nil).LocalAddr(a("192.0.2.5"), ""); got.IsValid() {
		t.Errorf("without a route file: %v", got)
	}
	if got := compile(t, &config.RouteConf{Routes: routes.Routes[:2]}).LocalAddr(a("198.51.100.1"), ""); got.IsValid() {
		t.Errorf("no line matches: %v", got)
	}
}

func compile(t *testing.T, routes *config.RouteConf) *Table {
	t.Helper()
	tab, err := Compile(routes)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// A destination field means in sockd.route what it means in the rules:
// ALL exactly (a lower-case "all" is a host of that name), "." the root
// zone, and an IPv4-mapped address whose mask covers the mapping an IPv4
// line.
func TestPatternsMeanWhatTheRulesMean(t *testing.T) {
	t.Parallel()
	a := netip.MustParseAddr
	pattern := func(p string) config.Addr { return config.Addr{Kind: config.AddrPattern, Pattern: p} }
	for _, tc := range []struct {
		dst      config.Addr
		ip, name string
		want     bool
	}{
		{pattern("ALL"), "192.0.2.1", "", true},
		{pattern("all"), "192.0.2.1", "", false},
		{pattern("all"), "", "all", true},
		{pattern("."), "", "www.example", true},
		{pattern("."), "192.0.2.1", "", false},
		{config.Addr{Kind: config.AddrMask, IP: a("::ffff:192.0.2.0"), Mask: a("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00")}, "192.0.2.7", "", true},
	} {
		routes := &config.RouteConf{Source: "sockd.route", Routes: []config.Route{{If: a("10.0.0.1"), Dst: tc.dst}}}
		var ip netip.Addr
		if tc.ip != "" {
			ip = a(tc.ip)
		}
		if got := compile(t, routes).LocalAddr(ip, tc.name).IsValid(); got != tc.want {
			t.Errorf("%+v for %s %q: matched %v, want %v", tc.dst, tc.ip, tc.name, got, tc.want)
		}
	}
	bad := &config.RouteConf{Source: "sockd.route", Routes: []config.Route{{Pos: config.Pos{Line: 3}, If: a("10.0.0.1"), Dst: pattern("")}}}
	if _, err := Compile(bad); err == nil || err.Error() != "sockd.route:3: destination: empty host name pattern" {
		t.Errorf("an empty pattern: %v", err)
	}
}
