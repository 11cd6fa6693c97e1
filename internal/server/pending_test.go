package server

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/socks"
)

// leave ends the client's side: a close (FIN) or a reset.
func leave(c *net.TCPConn, reset bool) {
	if reset {
		c.SetLinger(0)
	}
	c.Close()
}

// TestPendingConnectReleased: a client that closes or resets while its
// CONNECT is pending (a destination that never answers) releases the
// connecting socket and its session at once, not at the connect timeout
// (2 minutes here, far beyond the test's bound); the log says why.
func TestPendingConnectReleased(t *testing.T) {
	t.Parallel()
	parallelEngines(t, func(t *testing.T) {
		srv := startServer(t, permitLoopback, func(o *Options) { o.ConnectTimeout = 2 * time.Minute })
		hole := socks.AddrFromAddrPort(ap(t, blackHole(t)))
		for i, tc := range []struct {
			name  string
			v4    bool
			reset bool
		}{{"socks4 close", true, false}, {"socks4 reset", true, true}, {"socks5 close", false, false}, {"socks5 reset", false, true}} {
			t.Run(tc.name, func(t *testing.T) {
				c := dialProxy(t, srv.addr)
				if tc.v4 {
					mustWrite(t, c, v4Request(t, socks.V4Request{Command: socks.V4Connect, Dst: hole, UserID: "u"}))
				} else {
					v5Handshake(t, c)
					v5Send(t, c, socks.V5Request{Command: socks.V5Connect, Dst: hole})
				}
				// The server's connect is pending once its SYN waits.
				waitFor(t, "the server's connect to start", func() bool { return synSentTo(t, hole.Port) == 1 })
				leave(c, tc.reset)
				waitFor(t, "the pending connect to be released", func() bool { return srv.Active() == 0 && synSentTo(t, hole.Port) == 0 })
				if n := strings.Count(srv.log.String(), "Error code: connect() the client left before the reply"); n != i+1 {
					t.Fatalf("%d lines say the client left before the reply, want %d", n, i+1)
				}
			})
		}
	})
}

// TestPendingBindReleased: a client that closes or resets after its BIND's
// first reply releases the listener at once, not at the bind timeout; the
// listener then refuses connections.
func TestPendingBindReleased(t *testing.T) {
	t.Parallel()
	parallelEngines(t, func(t *testing.T) {
		srv := startServer(t, permitLoopback, func(o *Options) { o.BindTimeout = 2 * time.Minute })
		peer := socks.Addr{IP: netip.MustParseAddr("127.0.0.1"), Port: 0}
		for _, tc := range []struct {
			name  string
			v4    bool
			reset bool
		}{{"socks4 close", true, false}, {"socks4 reset", true, true}, {"socks5 close", false, false}, {"socks5 reset", false, true}} {
			t.Run(tc.name, func(t *testing.T) {
				c := dialProxy(t, srv.addr)
				var port uint16
				if tc.v4 {
					mustWrite(t, c, v4Request(t, socks.V4Request{Command: socks.V4Bind, Dst: peer, UserID: "u"}))
					r := readV4Reply(t, c)
					if r.Code != socks.V4Granted {
						t.Fatalf("first reply %v", r.Code)
					}
					port = r.Bound.Port
				} else {
					v5Handshake(t, c)
					v5Send(t, c, socks.V5Request{Command: socks.V5Bind, Dst: peer})
					r := readV5Reply(t, c)
					if r.Code != socks.V5Succeeded {
						t.Fatalf("first reply %v", r.Code)
					}
					port = r.Bound.Port
				}
				leave(c, tc.reset)
				waitFor(t, "the BIND to be released", func() bool { return srv.Active() == 0 })
				if p, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", portString(port)), 5*time.Second); err == nil {
					p.Close()
					t.Fatal("the BIND listener still accepts after its client left")
				}
			})
		}
		contains(t, srv.log, "Error code: accept() the client left before the reply")
	})
}

// synSentTo counts the sockets of this host (in the test's network
// namespace) whose connect to a loopback port is pending (SYN_SENT), from
// /proc/net/tcp: the test can thus wait for the server's connect to begin,
// whichever engine makes it.
func synSentTo(t *testing.T, port uint16) int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	want := fmt.Sprintf(":%04X", port)
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[2], want) && f[3] == "02" {
			n++
		}
	}
	return n
}
