package server

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
)

// TestNameRefusedByNameIsNeverResolved: a request for a name that the
// rules refuse by name (the deciding line does not depend on the address)
// is refused without asking DNS, in SOCKS4a and SOCKS5; a name the rules
// must see the address of is still resolved. The local DNS server counts
// the questions.
func TestNameRefusedByNameIsNeverResolved(t *testing.T) {
	t.Parallel()
	parallelEngines(t, func(t *testing.T) {
		srv, dns := startServerDNS(t, "deny 0.0.0.0 0.0.0.0 .com 0.0.0.0\ndeny 0.0.0.0 0.0.0.0 127.0.0.9 255.255.255.255\npermit 127.0.0.0 255.0.0.0\n", dnsLoopback, nil)
		c := v4Open(t, srv, socks.V4Request{Command: socks.V4Connect, Dst: socks.Addr{Name: "secret-a.example.com", Port: 80}, UserID: "u"})
		if r := readV4Reply(t, c); r.Code != socks.V4Rejected {
			t.Fatalf("SOCKS4a reply %v", r.Code)
		}
		_, r, _ := v5ConnectTo(t, srv, socks.Addr{Name: "secret-b.example.com", Port: 80})
		if r.Code != socks.V5NotAllowed {
			t.Fatalf("SOCKS5 reply %v", r.Code)
		}
		contains(t, srv.log, "refused -- Connect from u(unknown)@127.0.0.1 to secret-a.example.com (http)")
		contains(t, srv.log, "refused -- Connect from (unknown)@127.0.0.1 to secret-b.example.com (http)")
		// A name the address line must judge is resolved (to 127.0.0.1,
		// so permitted; whether port 9 then answers is beside the point).
		v5ConnectTo(t, srv, socks.Addr{Name: "needed.example.org", Port: 9})
		if !dns.asked("needed.example.org") {
			t.Fatal("a name the rules judge by address was not resolved")
		}
		for _, n := range []string{"secret-a.example.com", "secret-b.example.com"} {
			if dns.asked(n) {
				t.Fatalf("%s, refused by name, was resolved", n)
			}
		}
	})
}

// The same for UDP: a datagram to a name the rules refuse by name is
// dropped without a DNS query, and one to a name the address line must
// judge is resolved.
func TestUDPNameRefusedByNameIsNeverResolved(t *testing.T) {
	t.Parallel()
	parallelEngines(t, func(t *testing.T) {
		srv, dns := startServerDNS(t, "deny 0.0.0.0 0.0.0.0 .com 0.0.0.0\npermit 127.0.0.0 255.0.0.0\n", dnsLoopback, nil)
		_, relay := openAssociation(t, srv)
		u := testnet.ListenUDPT(t)
		send := func(name string) {
			h, err := socks.AppendUDPHeader(nil, socks.UDPHeader{Dst: socks.Addr{Name: name, Port: 9}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := u.WriteToUDP(append(h, "ping"...), relay); err != nil {
				t.Fatal(err)
			}
		}
		// Datagrams are decided in order by one reader: once the second
		// name was asked for, the first was decided. UDP may lose a
		// datagram even on loopback: resend within a bound.
		for i := 0; i < 50 && !dns.asked("needed-u.example.org"); i++ {
			send("secret-u.example.com")
			send("needed-u.example.org")
			time.Sleep(100 * time.Millisecond)
		}
		if !dns.asked("needed-u.example.org") {
			t.Fatal("a name the rules judge by address was not resolved")
		}
		contains(t, srv.log, "refused -- Connect from (unknown)@127.0.0.1 to secret-u.example.com")
		if dns.asked("secret-u.example.com") {
			t.Fatal("secret-u.example.com, refused by name, was resolved")
		}
	})
}

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
