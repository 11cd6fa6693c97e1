package server

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockd/sockd/socks"
)

// TestSilentClients: 1,000 connections that never speak do not delay a
// real client, and every one of them is dropped at the handshake timeout,
// not before.
func TestSilentClients(t *testing.T) {
	engines(t, func(t *testing.T) {
		const silent = 1000
		// Long enough to open all of them on a slow machine under -race
		// before the first is dropped.
		const timeout = 8 * time.Second
		srv := startServer(t, permitLoopback, func(o *Options) { o.HandshakeTimeout = timeout })
		echo := echoTarget(t, "tcp", "127.0.0.1:0")
		base := baseline()

		conns := make([]net.Conn, 0, silent)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		start := time.Now()
		for range silent {
			c, err := net.DialTimeout("tcp", srv.addr, 10*time.Second)
			if err != nil {
				t.Fatalf("silent client %d: %v", len(conns), err)
			}
			conns = append(conns, c)
		}
		waitFor(t, "the silent sessions", func() bool { return srv.Active() == silent })

		// A real client is served while all of them wait: well inside the
		// handshake timeout, and while they are all still connected.
		realStart := time.Now()
		c := v5Open(t, srv, socks.V5Request{Command: socks.V5Connect, Dst: socks.AddrFromAddrPort(ap(t, echo.Addr().String()))})
		if r := readV5Reply(t, c); r.Code != socks.V5Succeeded {
			t.Fatalf("real client: reply %v", r.Code)
		}
		sendThrough(t, c, c, "ping")
		realTook := time.Since(realStart)
		if n := srv.Active(); n < silent {
			t.Fatalf("the silent clients were dropped (%d left) before the real client was served (%v): the timeout is too early, or the real client waited for them", n, realTook)
		}
		t.Logf("real client served in %v beside %d silent connections", realTook, silent)
		c.Close()

		// Every silent client is closed at the deadline, not before it.
		var wg sync.WaitGroup
		var mu sync.Mutex
		var early, late int
		for _, sc := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sc.SetReadDeadline(time.Now().Add(timeout + 30*time.Second))
				_, err := io.ReadAll(sc)
				took := time.Since(start)
				mu.Lock()
				defer mu.Unlock()
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					late++
				} else if took < timeout-200*time.Millisecond {
					early++
				}
			}()
		}
		wg.Wait()
		if early > 0 || late > 0 {
			t.Fatalf("%d silent clients dropped before the handshake timeout, %d never dropped", early, late)
		}
		contains(t, srv.log, "handshake timed out")
		for _, sc := range conns {
			sc.Close()
		}
		conns = nil
		waitBaseline(t, srv, base, 16<<20)
	})
}

// TestTrickleClient: a client sending its request one byte at a time is
// dropped at the same deadline as a silent one; each byte does not buy it
// more time.
func TestTrickleClient(t *testing.T) {
	const timeout = 2 * time.Second
	withServers(t, permitLoopback, func(o *Options) { o.HandshakeTimeout = timeout }, func(t *testing.T, srv *testServer) {
		// A SOCKS4 request whose USERID never ends (up to 255 bytes).
		req := append([]byte{4, 1, 0, 80, 127, 0, 0, 1}, bytes.Repeat([]byte{'u'}, 200)...)
		c := dialProxy(t, srv.addr)
		start := time.Now()
		closed := make(chan time.Duration, 1)
		go func() {
			io.Copy(io.Discard, c)
			closed <- time.Since(start)
		}()
		for _, b := range req {
			if _, err := c.Write([]byte{b}); err != nil {
				break
			}
			select {
			case took := <-closed:
				// The upper bound only tells the handshake timeout from
				// the end of the trickle (52 s): a loaded machine under
				// the race detector may be late by seconds.
				if took < timeout-200*time.Millisecond || took > timeout+20*time.Second {
					t.Fatalf("trickling client dropped after %v, want the handshake timeout %v", took, timeout)
				}
				contains(t, srv.log, "handshake timed out")
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
		t.Fatalf("trickling client still connected after %v (handshake timeout %v)", time.Since(start), timeout)
	})
}

// garbage is one hostile opening: what is sent, whether the client then
// half-closes (a truncated message can only be told from a slow one by the
// end of the stream), and what the server must answer before closing.
type garbage struct {
	name      string
	send      []byte
	halfClose bool
	reply     []byte // exact bytes before the close; nil = anything
}

func garbageCases() []garbage {
	long := bytes.Repeat([]byte{'x'}, 3000)
	name255 := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63)
	// 255 bytes is the protocols' limit but beyond DNS's (253), so the
	// resolver refuses it itself; a 243-byte name goes out to the server.
	name243 := strings.Repeat("e", 60) + "." + strings.Repeat("f", 60) + "." + strings.Repeat("g", 60) + "." + strings.Repeat("h", 60)
	v5name, _ := socks.AppendV5Request(nil, socks.V5Request{Command: socks.V5Connect, Dst: socks.Addr{Name: name255, Port: 80}})
	v5name243, _ := socks.AppendV5Request(nil, socks.V5Request{Command: socks.V5Connect, Dst: socks.Addr{Name: name243, Port: 80}})
	v4aName := append(append([]byte{4, 1, 0, 80, 0, 0, 0, 1, 'u', 0}, name255...), 0)
	v4aName243 := append(append([]byte{4, 1, 0, 80, 0, 0, 0, 1, 'u', 0}, name243...), 0)
	rej4 := []byte{0, 91, 0, 0, 0, 0, 0, 0}
	cases := []garbage{
		{name: "HTTP GET", send: []byte("GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"), reply: []byte{}},
		{name: "HTTP CONNECT", send: []byte("CONNECT example.org:443 HTTP/1.1\r\n\r\n"), reply: []byte{}},
		{name: "TLS hello", send: []byte{0x16, 3, 1, 0, 0xa5, 1, 0, 0, 0xa1, 3, 3}, reply: []byte{}},
		{name: "version 0", send: []byte{0}, reply: []byte{}},
		{name: "SOCKS4 unknown command", send: []byte{4, 9, 0, 80, 127, 0, 0, 1, 0}, reply: []byte{}},
		{name: "SOCKS4 USERID 3000 bytes", send: append([]byte{4, 1, 0, 80, 127, 0, 0, 1}, long...), reply: rej4},
		{name: "SOCKS4a name 3000 bytes", send: append([]byte{4, 1, 0, 80, 0, 0, 0, 1, 0}, long...), reply: rej4},
		{name: "SOCKS4a 255-byte name, DNS fails", send: v4aName, reply: rej4},
		{name: "SOCKS4a 243-byte name, NXDOMAIN", send: v4aName243, reply: rej4},
		{name: "SOCKS5 no methods", send: []byte{5, 0}, reply: []byte{}},
		{name: "SOCKS5 only GSSAPI", send: []byte{5, 1, 1}, reply: []byte{5, 0xff}},
		{name: "SOCKS5 unknown command", send: []byte{5, 1, 0, 5, 9, 0, 1, 127, 0, 0, 1, 0, 80},
			reply: []byte{5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0}},
		{name: "SOCKS5 unknown address type", send: []byte{5, 1, 0, 5, 1, 0, 9, 127, 0, 0, 1, 0, 80},
			reply: []byte{5, 0, 5, 8, 0, 1, 0, 0, 0, 0, 0, 0}},
		{name: "SOCKS5 request of version 4", send: []byte{5, 1, 0, 4, 1, 0, 1, 127, 0, 0, 1, 0, 80}},
		{name: "SOCKS5 reserved byte set", send: []byte{5, 1, 0, 5, 1, 7, 1, 127, 0, 0, 1, 0, 80}},
		{name: "SOCKS5 empty name", send: []byte{5, 1, 0, 5, 1, 0, 3, 0, 0, 80}},
		{name: "SOCKS5 255-byte name, DNS fails", send: append([]byte{5, 1, 0}, v5name...),
			reply: []byte{5, 0, 5, 4, 0, 1, 0, 0, 0, 0, 0, 0}},
		{name: "SOCKS5 243-byte name, NXDOMAIN", send: append([]byte{5, 1, 0}, v5name243...),
			reply: []byte{5, 0, 5, 4, 0, 1, 0, 0, 0, 0, 0, 0}},
		{name: "truncated SOCKS4", send: []byte{4, 1, 0}, halfClose: true, reply: []byte{}},
		{name: "truncated SOCKS4 USERID", send: []byte{4, 1, 0, 80, 127, 0, 0, 1, 'u'}, halfClose: true, reply: []byte{}},
		{name: "truncated SOCKS5 greeting", send: []byte{5, 3, 0}, halfClose: true, reply: []byte{}},
		{name: "truncated SOCKS5 request", send: []byte{5, 1, 0, 5, 1, 0, 3, 20, 'a'}, halfClose: true, reply: []byte{5, 0}},
		{name: "nothing, then EOF", halfClose: true, reply: []byte{}},
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 40 {
		b := make([]byte, 1+rng.IntN(600))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if i%2 == 0 { // half of them look like SOCKS at first
			b[0] = byte(4 + i/2%2)
		}
		cases = append(cases, garbage{name: "random", send: b, halfClose: true})
	}
	return cases
}

// TestGarbage: every hostile opening gets its error reply or a close at
// once (well before the handshake timeout), the daemon survives all of
// them, and nothing of them stays behind: sessions, goroutines,
// descriptors, memory.
func TestGarbage(t *testing.T) {
	engines(t, func(t *testing.T) {
		srv, dns := startServerDNS(t, permitLoopback, dnsNXDomain, func(o *Options) {
			o.HandshakeTimeout = time.Minute // "at once" must not mean "at the timeout"
		})
		base := baseline()
		cases := garbageCases()
		run := func(g garbage) {
			c, err := net.DialTimeout("tcp", srv.addr, 10*time.Second)
			if err != nil {
				t.Fatalf("%s: %v", g.name, err)
			}
			defer c.Close()
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			c.Write(g.send) // the server may close before it has read everything
			if g.halfClose {
				c.(*net.TCPConn).CloseWrite()
			}
			got, took := readUntilClosed(t, c, 10*time.Second)
			if g.reply != nil && !bytes.Equal(got, g.reply) {
				t.Errorf("%s: server sent % x before closing, want % x", g.name, got, g.reply)
			}
			if took > 5*time.Second {
				t.Errorf("%s: closed only after %v", g.name, took)
			}
		}
		for _, g := range cases {
			run(g)
		}
		if !dns.asked(strings.Repeat("e", 60)) {
			t.Error("the 243-byte names never reached the DNS server")
		}
		for _, want := range []string{"error -- wrong version (0x47)", "error -- undefined command (0x09)", "Error in GetDst", "failed -- Connect"} {
			contains(t, srv.log, want)
		}
		// Many more rounds, concurrently: memory must not grow with them.
		mid := waitBaseline(t, srv, base, 8<<20)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < 10*len(cases); i += 8 {
					run(cases[i%len(cases)])
				}
			}()
		}
		wg.Wait()
		end := waitBaseline(t, srv, base, 8<<20)
		t.Logf("idle: %+v; after one round: %+v; after %d more connections: %+v", base, mid, 10*len(cases), end)
	})
}

// TestPipelinedData: whatever a client sends behind its request, in the
// same write (greeting, request and 64 KB of data), reaches the
// destination in order and comes back from an echo, in SOCKS4, 4a, 5 and 5
// with a host name. On the event loop the first read used to fill the
// handshake buffer and start the connect; with edge-triggered events no
// second event came, and the rest waited for the client's next write.
func TestPipelinedData(t *testing.T) {
	t.Parallel()
	parallelEngines(t, func(t *testing.T) {
		srv, _ := startServerDNS(t, permitLoopback, dnsLoopback, nil)
		echo := echoTarget(t, "tcp", "127.0.0.1:0")
		dst := socks.AddrFromAddrPort(ap(t, echo.Addr().String()))
		named := socks.Addr{Name: "echo.test", Port: dst.Port}
		greeting := []byte{5, 1, 0}
		for _, tc := range []struct {
			name string
			head []byte
			v4   bool
		}{
			{"socks4", v4Request(t, socks.V4Request{Command: socks.V4Connect, Dst: dst, UserID: "u"}), true},
			{"socks4a", v4Request(t, socks.V4Request{Command: socks.V4Connect, Dst: named, UserID: "u"}), true},
			{"socks5", append(greeting, v5RequestBytes(t, socks.V5Request{Command: socks.V5Connect, Dst: dst})...), false},
			{"socks5h", append(greeting, v5RequestBytes(t, socks.V5Request{Command: socks.V5Connect, Dst: named})...), false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				data := make([]byte, 64<<10+1234)
				rng := rand.New(rand.NewPCG(1, uint64(len(tc.head))))
				for i := range data {
					data[i] = byte(rng.Uint32())
				}
				c := dialProxy(t, srv.addr)
				wrote := make(chan error, 1)
				go func() { _, err := c.Write(append(bytes.Clone(tc.head), data...)); wrote <- err }()
				if tc.v4 {
					if r := readV4Reply(t, c); r.Code != socks.V4Granted {
						t.Fatalf("reply %v", r.Code)
					}
				} else {
					var choice [2]byte
					if _, err := io.ReadFull(c, choice[:]); err != nil {
						t.Fatal(err)
					}
					if r := readV5ReplyOnly(t, c); r.Code != socks.V5Succeeded {
						t.Fatalf("reply %v", r.Code)
					}
				}
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				got := make([]byte, len(data))
				n, err := io.ReadFull(c, got)
				if err != nil {
					t.Fatalf("%d of %d pipelined bytes came back: %v", n, len(data), err)
				}
				if !bytes.Equal(got, data) {
					t.Fatal("the pipelined bytes came back changed or out of order")
				}
				if err := <-wrote; err != nil {
					t.Fatal(err)
				}
			})
		}
	})
}

// TestPendingConnectReleased: a client that closes or resets while its
// CONNECT is pending (a destination that never answers) releases the
// connecting socket and its session at once, not at the connect timeout
// (2 minutes here, far beyond the test's bound); the log says why.
func TestPendingConnectReleased(t *testing.T) {
	withServers(t, permitLoopback, func(o *Options) { o.ConnectTimeout = 2 * time.Minute }, func(t *testing.T, srv *testServer) {
		hole := socks.AddrFromAddrPort(ap(t, blackHole(t)))
		for i, tc := range leaveCases {
			t.Run(tc.name, func(t *testing.T) {
				var c *net.TCPConn
				if tc.v4 {
					c = v4Open(t, srv, socks.V4Request{Command: socks.V4Connect, Dst: hole, UserID: "u"})
				} else {
					c = v5Open(t, srv, socks.V5Request{Command: socks.V5Connect, Dst: hole})
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
