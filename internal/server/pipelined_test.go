package server

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sockd/sockd/socks"
)

// TestPipelinedData: whatever a client sends behind its request, in the
// same write (greeting, request and 64 KB of data), reaches the
// destination in order and comes back from an echo, in SOCKS4, 4a, 5 and 5
// with a host name. On the event loop the first read used to fill the
// handshake buffer and start the connect; with edge-triggered events no
// second event came, and the rest waited for the client's next write.
func TestPipelinedData(t *testing.T) {
	t.Parallel()
	parallelEngines(t, func(t *testing.T) {
		dns := startFakeDNS(t, dnsLoopback)
		srv := startServer(t, permitLoopback, func(o *Options) { o.Resolver = dns.resolver() })
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

func v5RequestBytes(t *testing.T, req socks.V5Request) []byte {
	t.Helper()
	b, err := socks.AppendV5Request(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readV5ReplyOnly reads one SOCKS5 reply and not a byte more: relayed
// data may follow it at once.
func readV5ReplyOnly(t *testing.T, c io.Reader) socks.V5Reply {
	t.Helper()
	b := make([]byte, 5, socks.MaxV5RequestLen)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading SOCKS5 reply: %v", err)
	}
	rest := 0
	switch b[3] {
	case 1:
		rest = 4 + 2 - 1
	case 4:
		rest = 16 + 2 - 1
	case 3:
		rest = int(b[4]) + 2
	}
	b = b[:5+rest]
	if _, err := io.ReadFull(c, b[5:]); err != nil {
		t.Fatalf("reading SOCKS5 reply: %v", err)
	}
	r, _, err := socks.ParseV5Reply(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
