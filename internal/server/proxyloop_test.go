package server

import (
	"net/netip"
	"testing"

	"github.com/sockd/sockd/socks"
)

// TestNoProxyLoop: a CONNECT to one of the server's own listening
// addresses is refused and logged, whatever the rules permit, so that a
// client cannot nest CONNECTs through the server; with a listener on
// 0.0.0.0, any local address on its port counts.
func TestNoProxyLoop(t *testing.T) {
	t.Parallel()
	parallelEngines(t, func(t *testing.T) {
		for _, tc := range []struct{ listen, dst string }{
			{"127.0.0.1:0", "127.0.0.1"},
			{"0.0.0.0:0", "127.0.0.2"},
		} {
			t.Run(tc.listen, func(t *testing.T) {
				srv := startServerOn(t, tc.listen, permitLoopback, nil)
				_, port := hostPort(t, srv.addr)
				self := socks.Addr{IP: netip.MustParseAddr(tc.dst), Port: port}
				c := dialProxy(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String())
				mustWrite(t, c, v4Request(t, socks.V4Request{Command: socks.V4Connect, Dst: self, UserID: "u"}))
				if r := readV4Reply(t, c); r.Code != socks.V4Rejected {
					t.Fatalf("SOCKS4 CONNECT to the server itself: reply %v", r.Code)
				}
				c = dialProxy(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String())
				v5Handshake(t, c)
				v5Send(t, c, socks.V5Request{Command: socks.V5Connect, Dst: self})
				if r := readV5Reply(t, c); r.Code != socks.V5NotAllowed {
					t.Fatalf("SOCKS5 CONNECT to the server itself: reply %v", r.Code)
				}
				svc := portString(port)
				if name, ok := srv.services[port]; ok {
					svc = name
				}
				contains(t, srv.log, "refused -- Connect from (unknown)@127.0.0.1 to "+tc.dst+" ("+svc+"): the destination is this server's own listener (a proxy loop)")
				if srv.Active() > 1 {
					t.Fatalf("%d sessions: the server connected to itself", srv.Active())
				}
			})
		}
	})
}
