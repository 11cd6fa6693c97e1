package ownaddrs

import (
	"net/netip"
	"testing"
)

func TestContains(t *testing.T) {
	t.Parallel()
	ap := netip.MustParseAddrPort
	s := New([]netip.AddrPort{ap("127.0.0.1:1080"), ap("[::ffff:10.0.0.1]:1081"), ap("0.0.0.0:1082"), {}})
	for _, tc := range []struct {
		dst  netip.AddrPort
		want bool
	}{
		{ap("127.0.0.1:1080"), true},
		{ap("[::ffff:127.0.0.1]:1080"), true}, // a mapped address is the IPv4 one
		{ap("127.0.0.2:1080"), false},         // an exact listener is reached at its address only
		{ap("0.0.0.0:1080"), true},            // 0.0.0.0 reaches every local listener
		{ap("10.0.0.1:1081"), true},
		{ap("127.0.0.1:1081"), false},
		{ap("127.0.0.2:1082"), true}, // a wildcard listener: loopback reaches it
		{ap("0.0.0.0:1082"), true},
		{ap("192.0.2.1:1082"), false}, // documentation address: never the host's
		{ap("127.0.0.1:1083"), false},
	} {
		if got := s.Contains(tc.dst); got != tc.want {
			t.Errorf("Contains(%v) = %v, want %v", tc.dst, got, tc.want)
		}
	}
	var none *Set
	if none.Contains(ap("127.0.0.1:1080")) {
		t.Error("the nil set holds an address")
	}
}
