package server

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sockd/sockd/socks"
)

// TestBindAnyPeerMeetsTheRules: a BIND naming 0.0.0.0 lets in only a peer
// the rules permit as the request's destination, never any peer: with
// 127.0.0.3 denied, a peer from 127.0.0.3 is refused (and the log names
// it), one from 127.0.0.2 is relayed (and the log names it), in SOCKS4 and
// SOCKS5.
func TestBindAnyPeerMeetsTheRules(t *testing.T) {
	t.Parallel()
	parallelEngines(t, func(t *testing.T) {
		srv := startServer(t, "deny 127.0.0.0 255.0.0.0 127.0.0.3 255.255.255.255\npermit 127.0.0.0 255.0.0.0\n", nil)
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
				c := dialProxy(t, srv.addr)
				var bound socks.Addr
				if tc.v4 {
					mustWrite(t, c, v4Request(t, socks.V4Request{Command: socks.V4Bind, Dst: any, UserID: "u"}))
					r := readV4Reply(t, c)
					if r.Code != socks.V4Granted {
						t.Fatalf("first reply %v", r.Code)
					}
					bound = r.Bound
				} else {
					v5Handshake(t, c)
					v5Send(t, c, socks.V5Request{Command: socks.V5Bind, Dst: any})
					r := readV5Reply(t, c)
					if r.Code != socks.V5Succeeded {
						t.Fatalf("first reply %v", r.Code)
					}
					bound = r.Bound
				}
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
