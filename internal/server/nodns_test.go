package server

import (
	"testing"

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
		dns := startFakeDNS(t, dnsLoopback)
		srv := startServer(t, "deny 0.0.0.0 0.0.0.0 .com 0.0.0.0\ndeny 0.0.0.0 0.0.0.0 127.0.0.9 255.255.255.255\npermit 127.0.0.0 255.0.0.0\n",
			func(o *Options) { o.Resolver = dns.resolver() })
		c := dialProxy(t, srv.addr)
		mustWrite(t, c, v4Request(t, socks.V4Request{Command: socks.V4Connect, Dst: socks.Addr{Name: "secret-a.example.com", Port: 80}, UserID: "u"}))
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
