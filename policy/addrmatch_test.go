package policy_test

import (
	"net/netip"
	"testing"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/policy"
)

// AddrMatcher (what sockd.route matches with) accepts a destination
// exactly when a rule with that destination field does, for addresses,
// names the client sent, and both.
func TestAddrMatcherAgreesWithDecide(t *testing.T) {
	t.Parallel()
	fields := []config.Addr{
		{Kind: config.AddrAny}, pat("ALL"), pat("all"), pat("."), pat(".example"),
		pat("Host.Example."), pat("example"), mask("192.0.2.0", "255.255.255.0"),
		mask("0.0.0.0", "0.0.0.0"), mask("192.0.2.9", "255.255.255.255"), mask("10.0.0.0", "255.0.255.0"),
		mask("::ffff:192.0.2.0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00"), mask("2001:db8::", "ffff:ffff::"),
	}
	dsts := []struct {
		ip   string
		name string
	}{
		{"192.0.2.9", ""}, {"10.1.0.1", ""}, {"10.1.1.1", ""}, {"2001:db8::1", ""}, {"::ffff:192.0.2.3", ""},
		{"", "host.example"}, {"", "HOST.EXAMPLE."}, {"", "example"}, {"", "all"}, {"", "other.test"},
		{"192.0.2.9", "www.example"}, {"198.51.100.1", "host.example"},
	}
	for _, f := range fields {
		m, err := policy.CompileAddr(f)
		if err != nil {
			t.Fatal(err)
		}
		p := mustNew(t, conf(permit(config.Addr{Kind: config.AddrAny}, f)), policy.Options{})
		for _, d := range dsts {
			var dst netip.Addr
			if d.ip != "" {
				dst = ip(d.ip)
			}
			req := policy.Request{Command: policy.CmdConnect, SrcIP: ip("127.0.0.1"), DstIP: dst, DstName: d.name, DstPort: 80}
			want := decideBoth(t, p, req).Permit
			if got := m.Match(dst, d.name); got != want {
				t.Errorf("%+v for %s %q: AddrMatcher says %v, Decide %v", f, d.ip, d.name, got, want)
			}
		}
	}
}
