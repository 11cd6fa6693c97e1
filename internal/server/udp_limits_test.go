package server

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
)

// openAssociation makes a UDP association from a fresh control connection
// and returns that connection and the relay's address.
func openAssociation(t *testing.T, srv *testServer) (*net.TCPConn, *net.UDPAddr) {
	t.Helper()
	c := dialProxy(t, srv.addr)
	t.Cleanup(func() { c.Close() })
	v5Handshake(t, c)
	v5Send(t, c, socks.V5Request{Command: socks.V5UDPAssociate, Dst: socks.AddrFromAddrPort(ap(t, "0.0.0.0:0"))})
	r := readV5Reply(t, c)
	if r.Code != socks.V5Succeeded {
		t.Fatalf("UDP ASSOCIATE: %v", r.Code)
	}
	return c, net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.Bound.IP, r.Bound.Port))
}

// TestUDPAssociationTimeouts: an association with no datagram ends after
// the UDP timeout, or the relay idle timeout when that is shorter, and its
// control connection is closed with it (issue 18, defect 2).
func TestUDPAssociationTimeouts(t *testing.T) {
	t.Parallel()
	for name, mod := range map[string]func(*Options){
		"udp-timeout":  func(o *Options) { o.UDPTimeout = 300 * time.Millisecond },
		"idle-timeout": func(o *Options) { o.IdleTimeout = 300 * time.Millisecond },
	} {
		t.Run(name, func(t *testing.T) {
			srv := startServer(t, permitLoopback, mod)
			c, _ := openAssociation(t, srv)
			if got, took := readUntilClosed(t, c, 10*time.Second); len(got) != 0 || took >= 10*time.Second {
				t.Fatalf("association still open after %v (timeout 300ms); got %q", took, got)
			}
			contains(t, srv.log, "ended=\"udp timeout\"")
			waitFor(t, "the session's end", func() bool { return srv.Active() == 0 })
		})
	}
}

// TestUDPAssociationLivesWhileDatagramsFlow: the timeout counts from the
// last datagram, not from the association's start.
func TestUDPAssociationLivesWhileDatagramsFlow(t *testing.T) {
	const timeout = 2 * time.Second
	srv := startServer(t, permitLoopback, func(o *Options) { o.UDPTimeout = timeout })
	echo := testnet.EchoUDPT(t, "127.0.0.1:0", "")
	c, relay := openAssociation(t, srv)
	u := testnet.ListenUDPT(t)
	h, _ := socks.AppendUDPHeader(nil, socks.UDPHeader{Dst: socks.AddrFromAddrPort(ap(t, echo.LocalAddr().String()))})
	start := time.Now()
	buf := make([]byte, 2048)
	for i := 0; time.Since(start) < 2*timeout && i < 100; i++ {
		u.WriteToUDP(append(h, "ping"...), relay)
		u.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		u.ReadFromUDP(buf) // a lost datagram is resent by the next round
		time.Sleep(100 * time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := c.Read(buf); !socks.IsTimeout(err) {
		t.Fatalf("association with datagrams every 0.3 s ended within %v (timeout %v): %v", time.Since(start), timeout, err)
	}
}

// TestUDPControlJunkEndsAssociation: bytes on the control connection end
// the association at once, rather than being read and thrown away 64 at a
// time for as long as the client cares to send them (issue 18, defect 4).
func TestUDPControlJunkEndsAssociation(t *testing.T) {
	t.Parallel()
	srv := startServer(t, permitLoopback, nil)
	c, _ := openAssociation(t, srv)
	junk := bytes.Repeat([]byte("junk"), 16*1024)
	go func() {
		for range 1600 { // 100 MB at most
			if _, err := c.Write(junk); err != nil {
				return
			}
		}
	}()
	if _, took := readUntilClosed(t, c, 10*time.Second); took >= 10*time.Second {
		t.Fatalf("association still open after %v of junk on its control connection", took)
	}
	contains(t, srv.log, "sent data on the control connection")
}

// TestUDPAssociationIdleHeap: an association that carries no datagram
// holds no datagram buffer: its heap and goroutine stacks stay within
// 32 KB (issue 18, defect 3: two 64 KB buffers were held for its life).
func TestUDPAssociationIdleHeap(t *testing.T) {
	const assocs = 100
	const maxBytes = 32 * 1024
	srv := startServer(t, permitLoopback, func(o *Options) {
		o.Logger = newTestLogger(io.Discard) // a growing log buffer is not the server's heap
	})
	openAssociation(t, srv) // pools and lazily made state exist before the baseline
	mem := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc + m.StackInuse
	}
	before := mem()
	for range assocs {
		openAssociation(t, srv)
	}
	waitFor(t, "every association relaying", func() bool { return srv.Active() == assocs+1 })
	per := float64(mem()-before) / assocs
	t.Logf("%.0f bytes of heap and stack per idle UDP association", per)
	if per > maxBytes && !udpHeapUnderRace {
		t.Errorf("%.0f bytes of heap and stack per idle UDP association, want at most %d", per, maxBytes)
	}
}

// TestUDPAssociationEndsWithControl: closing the control connection ends
// the association, its sockets and its session at once.
func TestUDPAssociationEndsWithControl(t *testing.T) {
	t.Parallel()
	srv := startServer(t, permitLoopback, nil)
	c, relay := openAssociation(t, srv)
	c.Close()
	waitFor(t, "the session's end", func() bool { return srv.Active() == 0 })
	contains(t, srv.log, `ended="control connection closed"`)
	// The relay's port is closed: a datagram to it draws ICMP unreachable.
	u, err := net.DialUDP("udp", nil, relay)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write([]byte{0, 0, 0, 1, 127, 0, 0, 1, 0, 7, 'x'})
	u.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := u.Read(make([]byte, 64)); err == nil || socks.IsTimeout(err) {
		t.Errorf("the relay port still takes datagrams after the association ended: %v", err)
	}
}
