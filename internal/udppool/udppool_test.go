package udppool

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
)

// TestRecv: datagrams arrive behind the headroom with their source, false
// stops Recv, and closing the socket ends it with an error.
func TestRecv(t *testing.T) {
	c, sender := testnet.ListenUDPT(t), testnet.ListenUDPT(t)
	for _, p := range []string{"one", "two"} {
		if _, err := sender.WriteToUDPAddrPort([]byte(p), c.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	var from netip.AddrPort
	err := Recv(c, 10, func(buf []byte, n int, src netip.AddrPort) bool {
		if len(buf) < 10+n {
			t.Fatalf("buffer of %d bytes for %d of headroom and %d of datagram", len(buf), 10, n)
		}
		got = append(got, string(buf[10:10+n]))
		from = src
		return len(got) < 2
	})
	if err != nil || len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Fatalf("Recv = %v, got %q", err, got)
	}
	if from != sender.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Errorf("source %v, want %v", from, sender.LocalAddr())
	}
	done := make(chan error, 1)
	go func() { done <- Recv(c, 0, func([]byte, int, netip.AddrPort) bool { return true }) }()
	time.Sleep(10 * time.Millisecond)
	c.Close()
	if err := testnet.RecvT(t, done, 10*time.Second, "Recv to end when its socket was closed"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Recv after Close = %v, want net.ErrClosed", err)
	}
}

// TestRecvHoldsNoBufferWhileIdle: readers waiting on idle sockets hold
// their goroutine's stack and nothing like a datagram buffer.
func TestRecvHoldsNoBufferWhileIdle(t *testing.T) {
	const sockets = 200
	mem := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc + m.StackInuse
	}
	cs := make([]*net.UDPConn, sockets)
	for i := range cs {
		cs[i] = testnet.ListenUDPT(t)
	}
	before := mem()
	for _, c := range cs {
		go Recv(c, 0, func([]byte, int, netip.AddrPort) bool { return true })
	}
	time.Sleep(100 * time.Millisecond) // every reader parked in the poller
	per := float64(mem()-before) / sockets
	t.Logf("%.0f bytes of heap and stack per idle reader", per)
	if per > BufSize/4 && !raceEnabled {
		t.Errorf("%.0f bytes per idle reader: a datagram buffer is held while idle", per)
	}
}
