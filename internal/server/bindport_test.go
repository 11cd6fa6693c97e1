package server

import (
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/sockd/sockd/socks"
)

// freeBindPort returns a port nothing listens on at the moment.
func freeBindPort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// srelay's BIND port choice: the requested port when it is 600 or above;
// below 600 only with -b (BindAnyPort); plain sockd takes any port.
func TestSrelayBindPort(t *testing.T) {
	t.Parallel()
	bindPort := func(t *testing.T, mod func(*Options), want uint16) uint16 {
		srv := startServer(t, permitLoopback, mod)
		c := dialProxy(t, srv.addr)
		defer c.Close()
		mustWrite(t, c, v4Request(t, socks.V4Request{Command: socks.V4Bind,
			Dst: socks.Addr{IP: netip.MustParseAddr("127.0.0.1"), Port: want}, UserID: "u"}))
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
	high := freeBindPort(t)
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
