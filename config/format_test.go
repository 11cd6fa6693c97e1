package config

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestCanonical(t *testing.T) {
	ip := netip.MustParseAddr
	for _, tc := range []struct {
		name string
		got  string
		want string
	}{
		{"pair", Addr{Kind: AddrMask, IP: ip("10.0.0.0"), Mask: ip("255.0.0.0")}.Canonical(), "10.0.0.0 255.0.0.0"},
		{"cidr", Addr{Kind: AddrMask, IP: ip("10.1.2.3"), Mask: ip("255.0.0.0"), CIDR: true}.Canonical(), "10.1.2.3/8"},
		{"cidr v6", Addr{Kind: AddrMask, IP: ip("2001:db8::"), Mask: ip("ffff:ffff::"), CIDR: true}.Canonical(), "2001:db8::/32"},
		// A hand-made CIDR flag on a mask no prefix can spell falls back to the pair.
		{"non-contiguous cidr", Addr{Kind: AddrMask, IP: ip("10.0.0.0"), Mask: ip("255.0.255.0"), CIDR: true}.Canonical(), "10.0.0.0 255.0.255.0"},
		{"pattern", Addr{Kind: AddrPattern, Pattern: ".example"}.Canonical(), ".example 0.0.0.0"},
		{"any", Addr{}.Canonical(), ""},
		{"rule", Rule{Action: Permit, Ident: IdentStrict, Users: []string{"alice", "/etc/u"},
			Src:  Addr{Kind: AddrMask, IP: ip("10.0.0.0"), Mask: ip("255.0.0.0")},
			Dst:  Addr{Kind: AddrMask, IP: ip("0.0.0.0"), Mask: ip("0.0.0.0")},
			Port: PortTest{Op: OpEQ, Port: 23, Service: "telnet"}, Command: "echo hi"}.Canonical(),
			"permit ?=I *=alice,/etc/u 10.0.0.0 255.0.0.0 0.0.0.0 0.0.0.0 eq telnet : echo hi"},
		{"rule defaults", Rule{Action: Deny, Src: Addr{Kind: AddrPattern, Pattern: "ALL"}, Port: PortTest{Op: OpLT, Port: 1024}}.Canonical(),
			"deny ALL 0.0.0.0 lt 1024"},
		// The source cannot be omitted, so AddrAny prints as the pair matching all.
		{"required any", Rule{Action: Deny}.Canonical(), "deny 0.0.0.0 0.0.0.0"},
		{"route", Route{If: ip("10.0.0.1"), Dst: Addr{Kind: AddrMask, IP: ip("192.168.0.0"), Mask: ip("255.255.0.0"), CIDR: true}}.Canonical(),
			"10.0.0.1 192.168.0.0/16"},
		{"client", ClientRule{Action: ClientSockd, Servers: []Server{
			{Scheme: "socks4", Host: "proxy", Port: 1080},
			{Scheme: "socks4", Host: "::1", Port: 1081},
			{Scheme: "socks5", Host: "p5", Port: 1080, URL: true},
			{Scheme: "http", Host: "h", Port: 3128, URL: true},
			{Scheme: "socks5h", Host: "p5h", Port: 1080}, // not a URL, but only a URL can name the scheme
		}, Dst: Addr{Kind: AddrPattern, Pattern: "ALL"}}.Canonical(),
			"sockd @=proxy,[::1]:1081,socks5://p5,http://h:3128,socks5h://p5h ALL 0.0.0.0"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestWriteSockdOrder(t *testing.T) {
	c := &SockdConf{
		Rules:    []Rule{{Action: Permit, Src: Addr{Kind: AddrPattern, Pattern: "ALL"}}},
		BadID:    &Special{Command: "echo bad"},
		NoIdentd: &Special{},
	}
	var b bytes.Buffer
	if err := WriteSockd(&b, c); err != nil {
		t.Fatal(err)
	}
	if want := "#NO_IDENTD:\n#BAD_ID: echo bad\npermit ALL 0.0.0.0\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
