package server

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
)

func ap(t *testing.T, addr string) netip.AddrPort {
	t.Helper()
	a, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestV4ConnectPipelined: data sent right behind the request (before the
// reply) reaches the destination, and the echo comes back.
func TestV4ConnectPipelined(t *testing.T) {
	withServers(t, permitLoopback, nil, func(t *testing.T, srv *testServer) {
		echo := echoTarget(t, "tcp", "127.0.0.1:0")
		c := dialProxy(t, srv.addr)
		req := v4Request(t, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, echo.Addr().String())), UserID: "carol"})
		mustWrite(t, c, append(req, "pipelined data"...))
		if r := readV4Reply(t, c); r.Code != socks.V4Granted {
			t.Fatalf("reply %v", r.Code)
		}
		got := make([]byte, len("pipelined data"))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "pipelined data" {
			t.Fatalf("echo %q %v", got, err)
		}
		// Half-close from the client: the echo server sees EOF and closes, the
		// client then sees EOF too.
		halfCloseEnds(t, c)
		contains(t, srv.log, "terminated -- Connect from carol(unknown)@127.0.0.1 to 127.0.0.1")
		contains(t, srv.log, "14 bytes from 127.0.0.1, 14 bytes from 127.0.0.1")
	})
}

// TestV4Refusals: each refusal path answers with its code, then closes.
func TestV4Refusals(t *testing.T) {
	withServers(t, "deny *=mallory 0.0.0.0 0.0.0.0\npermit 127.0.0.0 255.0.0.0 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n", nil, func(t *testing.T, srv *testServer) {
		closed := func(c net.Conn) {
			t.Helper()
			if n, err := c.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("connection not closed after refusal: %d %v", n, err)
			}
		}
		// Denied user.
		c := v4Open(t, srv, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, "127.0.0.1:9")), UserID: "mallory"})
		if r := readV4Reply(t, c); r.Code != socks.V4Rejected {
			t.Fatalf("denied user: %v", r.Code)
		}
		closed(c)
		contains(t, srv.log, "refused -- Connect from mallory(unknown)@127.0.0.1 to 127.0.0.1 (discard)")

		// Permitted, but nothing listens there: 91, "failed -- ... connect()".
		deadAddr := testnet.ClosedAddr(t)
		c = v4Open(t, srv, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, deadAddr)), UserID: "u"})
		if r := readV4Reply(t, c); r.Code != socks.V4Rejected {
			t.Fatalf("connect failure: %v", r.Code)
		}
		closed(c)
		contains(t, srv.log, "Error code: connect() Connection refused")

		// SOCKS4a name that does not resolve.
		c = v4Open(t, srv, socks.V4Request{Command: socks.V4Connect, Dst: socks.Addr{Name: "no-such-host.invalid", Port: 80}, UserID: "u"})
		if r := readV4Reply(t, c); r.Code != socks.V4Rejected {
			t.Fatalf("unresolvable: %v", r.Code)
		}
		closed(c)

		// Unknown command: logged, closed without a reply (4.3).
		c = dialProxy(t, srv.addr)
		mustWrite(t, c, []byte{4, 9, 0, 80, 127, 0, 0, 1, 0})
		closed(c)
		contains(t, srv.log, "error -- undefined command (0x09) from host 127.0.0.1")

		// Wrong version.
		c = dialProxy(t, srv.addr)
		mustWrite(t, c, []byte{0x47, 'E', 'T'})
		closed(c)
		contains(t, srv.log, "error -- wrong version (0x47) from host 127.0.0.1.")
	})
}

func TestV5ConnectIPv4IPv6AndName(t *testing.T) {
	withServers(t, permitLoopback, nil, func(t *testing.T, srv *testServer) {
		echo4 := echoTarget(t, "tcp", "127.0.0.1:0")
		dsts := []socks.Addr{
			socks.AddrFromAddrPort(ap(t, echo4.Addr().String())),
			{Name: "localhost", Port: ap(t, echo4.Addr().String()).Port()},
		}
		if ln6, err := net.Listen("tcp", "[::1]:0"); err == nil {
			ln6.Close()
			echo6 := echoTarget(t, "tcp", "[::1]:0")
			dsts = append(dsts, socks.AddrFromAddrPort(ap(t, echo6.Addr().String())))
		} else {
			t.Logf("no IPv6 loopback here: %v", err)
		}
		for _, dst := range dsts {
			c := v5Open(t, srv, socks.V5Request{Command: socks.V5Connect, Dst: dst})
			r := readV5Reply(t, c)
			if r.Code != socks.V5Succeeded || !r.Bound.IP.IsValid() || r.Bound.IP.IsUnspecified() {
				t.Fatalf("%v: reply %+v", dst, r)
			}
			sendThrough(t, c, c, "abc")
			c.Close()
		}
	})
}

// TestV5ListenIPv6: the daemon on [::1] serves an IPv6 client.
func TestV5ListenIPv6(t *testing.T) {
	t.Parallel()
	parallelEngines(t, func(t *testing.T) {
		if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
			t.Skipf("no IPv6 loopback on this machine: %v", err)
		} else {
			ln.Close()
		}
		srv := startServerOn(t, "[::1]:0", permitLoopback, nil)
		echo := echoTarget(t, "tcp", "127.0.0.1:0")
		c := v5Open(t, srv, socks.V5Request{Command: socks.V5Connect, Dst: socks.AddrFromAddrPort(ap(t, echo.Addr().String()))})
		if r := readV5Reply(t, c); r.Code != socks.V5Succeeded {
			t.Fatalf("reply %+v", r)
		}
		contains(t, srv.log, "connected -- Connect from (unknown)@::1 to 127.0.0.1")
	})
}

func TestV5Refusals(t *testing.T) {
	withServers(t, "deny 0.0.0.0 0.0.0.0 eq 9\npermit 127.0.0.0 255.0.0.0\n", nil, func(t *testing.T, srv *testServer) {
		// Ruleset: 0x02.
		c := v5Open(t, srv, socks.V5Request{Command: socks.V5Connect, Dst: socks.AddrFromAddrPort(ap(t, "127.0.0.1:9"))})
		if r := readV5Reply(t, c); r.Code != socks.V5NotAllowed {
			t.Fatalf("denied: %v", r.Code)
		}
		// Unknown command: 0x07.
		c = dialProxy(t, srv.addr)
		v5Handshake(t, c)
		mustWrite(t, c, []byte{5, 9, 0, 1, 127, 0, 0, 1, 0, 80})
		if r := readV5Reply(t, c); r.Code != socks.V5CommandNotSupported {
			t.Fatalf("bad command: %v", r.Code)
		}
		// Unknown address type: 0x08.
		c = dialProxy(t, srv.addr)
		v5Handshake(t, c)
		mustWrite(t, c, []byte{5, 1, 0, 9, 127, 0, 0, 1, 0, 80})
		if r := readV5Reply(t, c); r.Code != socks.V5AddressTypeNotSupported {
			t.Fatalf("bad ATYP: %v", r.Code)
		}
		// Connection refused by the destination: 0x05.
		deadAddr := testnet.ClosedAddr(t)
		c = v5Open(t, srv, socks.V5Request{Command: socks.V5Connect, Dst: socks.AddrFromAddrPort(ap(t, deadAddr))})
		if r := readV5Reply(t, c); r.Code != socks.V5ConnectionRefused {
			t.Fatalf("dead port: %v", r.Code)
		}
		// Only user/password offered by a no-auth server: X'FF', then close.
		c = dialProxy(t, srv.addr)
		mustWrite(t, c, []byte{5, 1, 2})
		var b [2]byte
		if _, err := io.ReadFull(c, b[:]); err != nil || b != [2]byte{5, 0xff} {
			t.Fatalf("method choice %v %v", b, err)
		}
		if _, err := c.Read(b[:]); err != io.EOF {
			t.Fatalf("not closed after no acceptable method: %v", err)
		}
	})
}

// TestV5AuthRequired: with user/password configured, a client cannot skip
// the sub-negotiation and send a request straight away.
func TestV5AuthRequired(t *testing.T) {
	t.Parallel()
	parallelEngines(t, func(t *testing.T) {
		pw := passwdFile(t, "dave", "pw")
		srv := startServer(t, permitLoopback, func(o *Options) { o.PasswdPath = pw })
		echo := echoTarget(t, "tcp", "127.0.0.1:0")
		c := dialProxy(t, srv.addr)
		mustWrite(t, c, []byte{5, 2, 0, 2})
		var b [2]byte
		if _, err := io.ReadFull(c, b[:]); err != nil || b != [2]byte{5, 2} {
			t.Fatalf("method choice %v %v", b, err)
		}
		// A request where the RFC 1929 message belongs: refused, closed.
		req, _ := socks.AppendV5Request(nil, socks.V5Request{Command: socks.V5Connect, Dst: socks.AddrFromAddrPort(ap(t, echo.Addr().String()))})
		mustWrite(t, c, req)
		rest, _ := io.ReadAll(c)
		if len(rest) > 2 || (len(rest) == 2 && rest[1] == 0) {
			t.Fatalf("request accepted without authentication: % x", rest)
		}
		// Wrong password: status failure and close.
		c = dialProxy(t, srv.addr)
		mustWrite(t, c, []byte{5, 1, 2})
		io.ReadFull(c, b[:])
		up, _ := socks.AppendUserPass(nil, socks.UserPass{Username: "dave", Password: "bad"})
		mustWrite(t, c, up)
		if _, err := io.ReadFull(c, b[:]); err != nil || b[1] == 0 {
			t.Fatalf("status %v %v", b, err)
		}
		if _, err := c.Read(b[:]); err != io.EOF {
			t.Fatalf("not closed after failed authentication: %v", err)
		}
	})
}

func TestV5UDPAssociate(t *testing.T) {
	withServers(t, "deny 0.0.0.0 0.0.0.0 eq 9\npermit 127.0.0.0 255.0.0.0\n", nil, func(t *testing.T, srv *testServer) {
		echo := testnet.EchoUDPT(t, "127.0.0.1:0", "")
		echoAP := ap(t, echo.LocalAddr().String())

		c := v5Open(t, srv, socks.V5Request{Command: socks.V5UDPAssociate, Dst: socks.AddrFromAddrPort(ap(t, "0.0.0.0:0"))})
		r := readV5Reply(t, c)
		if r.Code != socks.V5Succeeded || r.Bound.IP.IsUnspecified() || r.Bound.Port == 0 {
			t.Fatalf("reply %+v: BND.ADDR must be routable", r)
		}
		relayAddr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.Bound.IP, r.Bound.Port))
		u := testnet.ListenUDPT(t)
		datagram := func(dst socks.Addr, frag byte, payload string) []byte {
			h, err := socks.AppendUDPHeader(nil, socks.UDPHeader{Dst: dst})
			if err != nil {
				t.Fatal(err)
			}
			h[2] = frag
			return append(h, payload...)
		}
		send := func(conn *net.UDPConn, b []byte) {
			if _, err := conn.WriteToUDP(b, relayAddr); err != nil {
				t.Fatal(err)
			}
		}
		recv := func(conn *net.UDPConn, d time.Duration) (socks.UDPHeader, string, bool) {
			buf := make([]byte, 2048)
			conn.SetReadDeadline(time.Now().Add(d))
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return socks.UDPHeader{}, "", false
			}
			h, hn, err := socks.ParseUDPHeader(buf[:n])
			if err != nil {
				t.Fatalf("reply datagram: %v", err)
			}
			return h, string(buf[hn:n]), true
		}
		// Round trip. UDP may lose a datagram even on loopback: resend a few
		// times, within a bound.
		var h socks.UDPHeader
		var payload string
		ok := false
		for i := 0; i < 5 && !ok; i++ {
			send(u, datagram(socks.AddrFromAddrPort(echoAP), 0, "marco"))
			h, payload, ok = recv(u, 5*time.Second)
		}
		if !ok || payload != "marco" || h.Dst.String() != echoAP.String() {
			t.Fatalf("round trip: ok=%v %q from %v", ok, payload, h.Dst)
		}
		// A fragment is dropped; a denied destination is dropped; a datagram
		// from another socket (another port) is ignored. Then a good datagram
		// proves the relay is still alive and that nothing else was sent.
		send(u, datagram(socks.AddrFromAddrPort(echoAP), 1, "fragment"))
		send(u, datagram(socks.AddrFromAddrPort(ap(t, "127.0.0.1:9")), 0, "denied"))
		other := testnet.ListenUDPT(t)
		send(other, datagram(socks.AddrFromAddrPort(echoAP), 0, "intruder"))
		if _, p, ok := recv(other, 300*time.Millisecond); ok {
			t.Fatalf("a stranger got an answer: %q", p)
		}
		send(u, datagram(socks.AddrFromAddrPort(echoAP), 0, "polo"))
		for i := 0; i < 5; i++ {
			_, p, ok := recv(u, 5*time.Second)
			if !ok {
				send(u, datagram(socks.AddrFromAddrPort(echoAP), 0, "polo"))
				continue
			}
			if p != "polo" {
				t.Fatalf("unexpected datagram %q (fragment, denied or stranger relayed)", p)
			}
			break
		}
		contains(t, srv.log, "refused -- Connect from (unknown)@127.0.0.1 to 127.0.0.1 (discard)")
		// Closing the control connection ends the association.
		c.Close()
		contains(t, srv.log, "terminated -- UDP associate from (unknown)@127.0.0.1")
	})
}

func TestHandshakeTimeout(t *testing.T) {
	withServers(t, permitLoopback, func(o *Options) { o.HandshakeTimeout = 200 * time.Millisecond }, func(t *testing.T, srv *testServer) {
		c := dialProxy(t, srv.addr)
		mustWrite(t, c, []byte{5}) // starts, then says nothing more
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("want EOF from the server, got %v", err)
		}
		contains(t, srv.log, "handshake timed out")
	})
}

// TestLogInjection: a USERID with a newline and a terminal escape gives one
// escaped line.
func TestLogInjection(t *testing.T) {
	withServers(t, "deny 0.0.0.0 0.0.0.0\n", nil, func(t *testing.T, srv *testServer) {
		c := dialProxy(t, srv.addr)
		mustWrite(t, c, v4Request(t, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, "127.0.0.1:80")),
			UserID: "evil\nINFO connected -- forged\x1b[31m"}))
		readV4Reply(t, c)
		contains(t, srv.log, "refused -- ")
		for _, line := range strings.Split(srv.log.String(), "\n") {
			if strings.Contains(line, "forged") {
				if !strings.Contains(line, `refused -- Connect from evil\nINFO connected -- forged\x1b[31m(unknown)@127.0.0.1`) {
					t.Fatalf("line not escaped as expected: %q", line)
				}
			}
			if strings.ContainsRune(line, 0x1b) || strings.HasPrefix(line, "INFO connected -- forged") {
				t.Fatalf("injected: %q", line)
			}
		}
	})
}

func TestMaxClients(t *testing.T) {
	withServers(t, permitLoopback, func(o *Options) { o.MaxClients = 1; o.HandshakeTimeout = 30 * time.Second }, func(t *testing.T, srv *testServer) {
		first := dialProxy(t, srv.addr)
		mustWrite(t, first, []byte{5}) // holds its slot in the handshake
		waitFor(t, "first session", func() bool { return srv.Active() == 1 })
		// The excess client is reset at once; depending on timing the reset
		// reaches the dial itself or the first read.
		if second, err := net.Dial("tcp", srv.addr); err == nil {
			second.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.ReadAll(second); err != nil && !isReset(err) {
				t.Fatalf("second client: %v", err)
			}
			second.Close()
		} else if !isReset(err) {
			t.Fatalf("second client: %v", err)
		}
		contains(t, srv.log, "too many clients")
	})
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "reset") }
