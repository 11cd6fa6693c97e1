package server

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
)

// bindFirst sends a BIND for dst (SOCKS4 as user, or SOCKS5 without
// authentication) and fails unless its first reply grants it; it returns
// the connection and the address the first reply names.
func bindFirst(t *testing.T, srv *testServer, v4 bool, dst socks.Addr, user string) (*net.TCPConn, socks.Addr) {
	t.Helper()
	if v4 {
		c := v4Open(t, srv, socks.V4Request{Command: socks.V4Bind, Dst: dst, UserID: user})
		r := readV4Reply(t, c)
		if r.Code != socks.V4Granted {
			t.Fatalf("first reply %+v", r)
		}
		return c, r.Bound
	}
	c := v5Open(t, srv, socks.V5Request{Command: socks.V5Bind, Dst: dst})
	r := readV5Reply(t, c)
	if r.Code != socks.V5Succeeded {
		t.Fatalf("first reply %+v", r)
	}
	return c, r.Bound
}

// dialBound connects a peer to the address a BIND's first reply named,
// with a deadline for the whole test exchange.
func dialBound(t *testing.T, bound socks.Addr) net.Conn {
	t.Helper()
	peer, err := net.Dial("tcp", netip.AddrPortFrom(bound.IP, bound.Port).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	peer.SetDeadline(time.Now().Add(30 * time.Second))
	return peer
}

// TestV4Bind: the first reply names the listener, the second comes after
// the expected host connected, and data flows both ways.
func TestV4Bind(t *testing.T) {
	withServers(t, permitLoopback, nil, func(t *testing.T, srv *testServer) {
		c, bound := bindFirst(t, srv, true, socks.AddrFromAddrPort(ap(t, "127.0.0.1:21")), "ftp")
		if bound.Port == 0 || bound.IP != netip.MustParseAddr("127.0.0.1") {
			t.Fatalf("first reply names %v", bound)
		}
		peer := dialBound(t, bound)
		second := readV4Reply(t, c)
		if second.Code != socks.V4Granted || second.Bound.Port != ap(t, peer.LocalAddr().String()).Port() {
			t.Fatalf("second reply %+v, peer %v", second, peer.LocalAddr())
		}
		sendThrough(t, peer, c, "from peer")
		sendThrough(t, c, peer, "from client")
		contains(t, srv.log, "connected -- Bind from ftp(unknown)@127.0.0.1 for 127.0.0.1 (")
	})
}

// TestV4BindWrongHost: a peer from another address gets the client a 91.
func TestV4BindWrongHost(t *testing.T) {
	withServers(t, permitLoopback, nil, func(t *testing.T, srv *testServer) {
		c, bound := bindFirst(t, srv, true, socks.AddrFromAddrPort(ap(t, "127.0.0.2:21")), "ftp")
		// Connect from 127.0.0.1, not the expected 127.0.0.2.
		dialBound(t, bound)
		if second := readV4Reply(t, c); second.Code != socks.V4Rejected {
			t.Fatalf("second reply %+v, want 91", second)
		}
		contains(t, srv.log, "Error: connected to wrong host 127.0.0.1 (")
		// The listener is gone.
		if c2, err := net.DialTimeout("tcp", netip.AddrPortFrom(bound.IP, bound.Port).String(), 5*time.Second); err == nil {
			c2.Close()
			t.Fatal("BIND listener still open after the wrong host")
		}
	})
}

func TestV5Bind(t *testing.T) {
	withServers(t, permitLoopback, nil, func(t *testing.T, srv *testServer) {
		c, bound := bindFirst(t, srv, false, socks.AddrFromAddrPort(ap(t, "127.0.0.1:0")), "")
		if bound.IP.IsUnspecified() {
			t.Fatalf("first reply names %v", bound)
		}
		peer := dialBound(t, bound)
		second := readV5Reply(t, c)
		if second.Code != socks.V5Succeeded || second.Bound.String() != peer.LocalAddr().String() {
			t.Fatalf("second reply %+v, peer %v", second, peer.LocalAddr())
		}
		sendThrough(t, peer, c, "xyz")
	})
}

// TestBindAnyPeerMeetsTheRules: a BIND naming 0.0.0.0 lets in only a peer
// the rules permit as the request's destination, never any peer: with
// 127.0.0.3 denied, a peer from 127.0.0.3 is refused (and the log names
// it), one from 127.0.0.2 is relayed (and the log names it), in SOCKS4 and
// SOCKS5.
func TestBindAnyPeerMeetsTheRules(t *testing.T) {
	withServers(t, "deny 127.0.0.0 255.0.0.0 127.0.0.3 255.255.255.255\npermit 127.0.0.0 255.0.0.0\n", nil, func(t *testing.T, srv *testServer) {
		any := socks.Addr{IP: netip.IPv4Unspecified(), Port: 21}
		for _, tc := range []struct {
			name   string
			v4     bool
			from   string
			permit bool
		}{
			{"socks4 denied peer", true, "127.0.0.3", false},
			{"socks4 permitted peer", true, "127.0.0.2", true},
			{"socks5 denied peer", false, "127.0.0.3", false},
			{"socks5 permitted peer", false, "127.0.0.2", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, bound := bindFirst(t, srv, tc.v4, any, "u")
				d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(tc.from)}}
				peer, err := d.Dial("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), bound.Port).String())
				if err != nil {
					t.Fatal(err)
				}
				defer peer.Close()
				var granted bool
				if tc.v4 {
					granted = readV4Reply(t, c).Code == socks.V4Granted
				} else {
					r := readV5Reply(t, c)
					granted = r.Code == socks.V5Succeeded
					if !granted && r.Code != socks.V5NotAllowed {
						t.Fatalf("second reply %v, want not allowed", r.Code)
					}
				}
				if granted != tc.permit {
					t.Fatalf("peer from %s: granted %v, want %v", tc.from, granted, tc.permit)
				}
				user := "u"
				if !tc.v4 {
					user = "" // SOCKS5 without authentication has no user
				}
				if tc.permit {
					contains(t, srv.log, "connected -- Bind from "+user+"(unknown)@127.0.0.1 for "+tc.from+" (")
				} else {
					contains(t, srv.log, "refused -- Bind from "+user+"(unknown)@127.0.0.1 for "+tc.from)
				}
			})
		}
	})
}

// srelay's BIND port choice: the requested port when it is 600 or above;
// below 600 only with -b (BindAnyPort); plain sockd takes any port.
func TestSrelayBindPort(t *testing.T) {
	t.Parallel()
	bindPort := func(t *testing.T, mod func(*Options), want uint16) uint16 {
		srv := startServer(t, permitLoopback, mod)
		c := v4Open(t, srv, socks.V4Request{Command: socks.V4Bind,
			Dst: socks.Addr{IP: netip.MustParseAddr("127.0.0.1"), Port: want}, UserID: "u"})
		defer c.Close()
		r := readV4Reply(t, c)
		if r.Code != socks.V4Granted {
			t.Fatalf("BIND reply %d", r.Code)
		}
		// The peer comes at once, so that the session ends with the test.
		if p, err := net.Dial("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), r.Bound.Port).String()); err == nil {
			p.Close()
		}
		return r.Bound.Port
	}
	high := uint16(testnet.FreeLoopbackPort(t))
	if got := bindPort(t, func(o *Options) { o.SrelayBind = true }, high); got != high {
		t.Errorf("srelay BIND for port %d listens on %d", high, got)
	}
	if got := bindPort(t, nil, high); got == high {
		t.Errorf("plain sockd BIND took the requested port %d", high)
	}
	if got := bindPort(t, func(o *Options) { o.SrelayBind = true }, 599); got == 599 {
		t.Errorf("srelay BIND without -b took port 599")
	}
	if os.Geteuid() != 0 {
		t.Skip("a port below 1024 needs root")
	}
	if got := bindPort(t, func(o *Options) { o.SrelayBind, o.BindAnyPort = true, true }, 599); got != 599 {
		t.Errorf("srelay -b BIND for port 599 listens on %d", got)
	}
}

// TestPendingBindReleased: a client that closes or resets after its BIND's
// first reply releases the listener at once, not at the bind timeout; the
// listener then refuses connections.
func TestPendingBindReleased(t *testing.T) {
	withServers(t, permitLoopback, func(o *Options) { o.BindTimeout = 2 * time.Minute }, func(t *testing.T, srv *testServer) {
		peer := socks.Addr{IP: netip.MustParseAddr("127.0.0.1"), Port: 0}
		for _, tc := range leaveCases {
			t.Run(tc.name, func(t *testing.T) {
				c, bound := bindFirst(t, srv, tc.v4, peer, "u")
				leave(c, tc.reset)
				waitFor(t, "the BIND to be released", func() bool { return srv.Active() == 0 })
				if p, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", portString(bound.Port)), 5*time.Second); err == nil {
					p.Close()
					t.Fatal("the BIND listener still accepts after its client left")
				}
			})
		}
		contains(t, srv.log, "Error code: accept() the client left before the reply")
	})
}
