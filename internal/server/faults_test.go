package server

import (
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
)

// blackHole returns a loopback address whose SYNs go unanswered: a
// listener with a backlog of 0 and a full accept queue, so the kernel
// drops new SYNs and a connect times out, as to a firewalled host.
func blackHole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := net.JoinHostPort("127.0.0.1", portString(uint16(sa.(*syscall.SockaddrInet4).Port)))
	// Fill the accept queue; stop at the first connect that hangs.
	for i := 0; i < 8; i++ {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatal("could not fill the accept queue of a backlog-0 listener")
	return ""
}

// TestDestinationFaults: a destination that refuses, never answers, or
// resets gets the right reply and log line, and leaves nothing behind.
func TestDestinationFaults(t *testing.T) {
	engines(t, func(t *testing.T) {
		srv := startServer(t, permitLoopback, func(o *Options) { o.ConnectTimeout = 1500 * time.Millisecond })
		base := baseline()

		t.Run("refused", func(t *testing.T) {
			dst := testnet.ClosedAddr(t)
			_, r, _ := v5ConnectTo(t, srv, socks.AddrFromAddrPort(ap(t, dst)))
			if r.Code != socks.V5ConnectionRefused {
				t.Fatalf("SOCKS5 reply %v, want connection refused", r.Code)
			}
			c := v4Open(t, srv, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, dst)), UserID: "u"})
			if r := readV4Reply(t, c); r.Code != socks.V4Rejected {
				t.Fatalf("SOCKS4 reply %v, want 91", r.Code)
			}
			contains(t, srv.log, "failed -- Connect from (unknown)@127.0.0.1 to 127.0.0.1 ("+strings.Split(dst, ":")[1]+").  Error code: connect() Connection refused")
		})
		t.Run("times out", func(t *testing.T) {
			dst := blackHole(t)
			_, r, took := v5ConnectTo(t, srv, socks.AddrFromAddrPort(ap(t, dst)))
			if r.Code != socks.V5HostUnreachable {
				t.Fatalf("SOCKS5 reply %v, want host unreachable", r.Code)
			}
			if took < time.Second || took > 20*time.Second {
				t.Fatalf("answered after %v, want the connect timeout (1.5 s)", took)
			}
			contains(t, srv.log, "timed-out -- Connect from (unknown)@127.0.0.1 to 127.0.0.1")
		})
		t.Run("resets mid-stream", func(t *testing.T) {
			dst := testnet.AcceptOnceT(t, "127.0.0.1:0", 30*time.Second, func(c net.Conn) {
				io.ReadFull(c, make([]byte, 5))
				c.Write([]byte("partial"))
				c.(*net.TCPConn).SetLinger(0)
				c.Close() // RST
			})
			c := v5Connected(t, srv, socks.AddrFromAddrPort(ap(t, dst)))
			mustWrite(t, c, []byte("hello"))
			got, _ := readUntilClosed(t, c, 20*time.Second)
			if string(got) != "partial" {
				t.Fatalf("client got %q before the close", got)
			}
			contains(t, srv.log, "terminated -- Connect from (unknown)@127.0.0.1 to 127.0.0.1 ("+strings.Split(dst, ":")[1]+"). 5 bytes from 127.0.0.1, 7 bytes from 127.0.0.1")
		})
		waitBaseline(t, srv, base, 8<<20)
	})
}

// TestDNSFaults: a failing or silent DNS server gives host unreachable
// (SOCKS5) or 91 (SOCKS4a) with a failed/timed-out line, bounded by the
// connect timeout.
func TestDNSFaults(t *testing.T) {
	engines(t, func(t *testing.T) {
		for _, tt := range []struct {
			name string
			mode dnsMode
			log  string
		}{
			{"SERVFAIL", dnsServFail, "failed -- Connect from (unknown)@127.0.0.1 to broken.test (http).  Error code: resolve()"},
			{"NXDOMAIN", dnsNXDomain, "failed -- Connect from (unknown)@127.0.0.1 to broken.test (http).  Error code: resolve()"},
			{"no answer", dnsHang, "timed-out -- Connect from (unknown)@127.0.0.1 to broken.test (http)"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				srv, dns := startServerDNS(t, permitLoopback, tt.mode, func(o *Options) { o.ConnectTimeout = 1500 * time.Millisecond })
				base := baseline()
				_, r, took := v5ConnectTo(t, srv, socks.Addr{Name: "broken.test", Port: 80})
				if r.Code != socks.V5HostUnreachable {
					t.Fatalf("SOCKS5 reply %v, want host unreachable", r.Code)
				}
				if took > 20*time.Second {
					t.Fatalf("answered after %v", took)
				}
				c := v4Open(t, srv, socks.V4Request{Command: socks.V4Connect, Dst: socks.Addr{Name: "broken.test", Port: 80}, UserID: "u"})
				if r := readV4Reply(t, c); r.Code != socks.V4Rejected {
					t.Fatalf("SOCKS4a reply %v, want 91", r.Code)
				}
				if !dns.asked("broken.test") {
					t.Fatal("the fake DNS server was never asked")
				}
				contains(t, srv.log, tt.log)
				waitBaseline(t, srv, base, 8<<20)
			})
		}
		t.Run("slow but answering", func(t *testing.T) {
			echo := echoTarget(t, "tcp", "127.0.0.1:0")
			_, port := hostPort(t, echo.Addr().String())
			srv, _ := startServerDNS(t, permitLoopback, dnsLoopback, nil)
			c := v5Connected(t, srv, socks.Addr{Name: "echo.test", Port: port})
			mustWrite(t, c, []byte("x"))
			if b, err := io.ReadAll(io.LimitReader(c, 1)); err != nil || string(b) != "x" {
				t.Fatalf("echo %q %v", b, err)
			}
		})
	})
}

// TestClientFaults: a client that half-closes still gets the destination's
// answer and the session ends; a client that resets mid-relay ends the
// session at once, closing the destination.
func TestClientFaults(t *testing.T) {
	engines(t, func(t *testing.T) {
		srv := startServer(t, permitLoopback, nil)
		base := baseline()
		t.Run("half-close", func(t *testing.T) {
			echo := echoTarget(t, "tcp", "127.0.0.1:0")
			c := v5Connected(t, srv, socks.AddrFromAddrPort(ap(t, echo.Addr().String())))
			mustWrite(t, c, []byte("last words"))
			c.CloseWrite()
			got, _ := readUntilClosed(t, c, 20*time.Second)
			if string(got) != "last words" {
				t.Fatalf("after the half-close the client got %q", got)
			}
			contains(t, srv.log, "10 bytes from 127.0.0.1, 10 bytes from 127.0.0.1")
		})
		t.Run("reset", func(t *testing.T) {
			dstClosed := make(chan error, 1)
			dst := testnet.AcceptOnceT(t, "127.0.0.1:0", 30*time.Second, func(c net.Conn) {
				_, err := io.Copy(io.Discard, c)
				dstClosed <- err
			})
			c := v5Connected(t, srv, socks.AddrFromAddrPort(ap(t, dst)))
			mustWrite(t, c, []byte("abc"))
			c.SetLinger(0)
			c.Close()
			err := testnet.RecvT(t, dstClosed, 40*time.Second, "the destination to close")
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the destination was never closed after the client's reset")
			}
			contains(t, srv.log, "terminated -- Connect from (unknown)@127.0.0.1 to 127.0.0.1")
		})
		waitBaseline(t, srv, base, 8<<20)
	})
}

// fakeIdentd113 listens on addr:113 (root only) and answers every query
// with reply, or reads the query and says nothing when reply is "".
func fakeIdentd113(t *testing.T, addr, reply string) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "113"))
	if err != nil {
		t.Fatalf("identd on %s:113: %v", addr, err)
	}
	testnet.Hold(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(time.Minute))
		c.Read(make([]byte, 100))
		if reply != "" {
			c.Write([]byte(reply))
			c.Close()
		}
	})
}

// TestIdentdFaults: an identd that hangs is given up at the ident timeout,
// one that answers garbage counts as no answer; strict rules refuse with
// 92, lenient ones let the client through, and both log why.
func TestIdentdFaults(t *testing.T) {
	engines(t, func(t *testing.T) {
		if syscall.Geteuid() != 0 {
			t.Skip("a fake identd on port 113 needs root")
		}
		echo := echoTarget(t, "tcp", "127.0.0.1:0")
		dst := echo.Addr().String()
		for _, tt := range []struct {
			name, addr, reply string
		}{
			{"hangs", "127.0.0.4", ""},
			{"garbage", "127.0.0.5", "HTTP/1.0 400 Bad Request\r\n\x1b[2J\r\n"},
			{"endless line", "127.0.0.6", strings.Repeat("A", 5000)},
		} {
			t.Run(tt.name, func(t *testing.T) {
				fakeIdentd113(t, tt.addr, tt.reply)
				opts := func(o *Options) { o.IdentTimeout = 1500 * time.Millisecond }
				strict := startServer(t, "permit ?=I 127.0.0.0 255.0.0.0\n", opts)
				lenient := startServer(t, "permit ?=i 127.0.0.0 255.0.0.0\n", opts)
				base := baseline()
				connect := func(srv *testServer) (socks.V4ReplyCode, time.Duration) {
					d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(tt.addr)}, Timeout: 10 * time.Second}
					c, err := d.Dial("tcp", srv.addr)
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(30 * time.Second))
					start := time.Now()
					mustWrite(t, c, v4Request(t, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, dst)), UserID: "root"}))
					return readV4Reply(t, c).Code, time.Since(start)
				}
				code, took := connect(strict)
				if code != socks.V4NoIdentd {
					t.Errorf("strict: reply %v, want 92", code)
				}
				if took > 15*time.Second {
					t.Errorf("strict: answered after %v, want about the ident timeout", took)
				}
				if code, _ := connect(lenient); code != socks.V4Granted {
					t.Errorf("lenient: reply %v, want 90", code)
				}
				contains(t, strict.log, "refused -- Connect from root(unknown)@"+tt.addr)
				contains(t, strict.log, "cannot connect to identd on "+tt.addr)
				contains(t, lenient.log, "cannot connect to identd on "+tt.addr)
				for _, l := range strings.Split(strict.log.String()+lenient.log.String(), "\n") {
					if strings.ContainsRune(l, 0x1b) {
						t.Fatalf("identd's bytes reached the log raw: %q", l)
					}
				}
				waitFor(t, "sessions to end", func() bool { return strict.Active() == 0 && lenient.Active() == 0 })
				waitBaseline(t, strict, base, 8<<20)
			})
		}
	})
}
