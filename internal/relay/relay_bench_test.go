package relay

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
)

// Bulk data must stay on the zero-copy path: of a 32 MB transfer, only the
// first read of each burst may pass through user space.
func TestRelayBulkUsesSplice(t *testing.T) {
	t.Parallel()
	f := startRelayFixture(t, nil, 0)
	const size = 32 << 20
	before := f.relays.Copied()
	go func() {
		buf := make([]byte, 1<<20)
		for sent := 0; sent < size; sent += len(buf) {
			if _, err := f.app.Write(buf); err != nil {
				return
			}
		}
		f.app.CloseWrite()
	}()
	n, err := io.Copy(io.Discard, f.server)
	if err != nil || n != size {
		t.Fatalf("received %d bytes, %v; want %d", n, err, size)
	}
	f.server.CloseWrite()
	f.wait(t)
	if copied := f.relays.Copied() - before; copied > size/8 {
		t.Errorf("%d of %d bytes went through user space: the relay left the splice path", copied, size)
	}
}

// A small message goes across whole and without a pipe.
func TestRelaySmallMessage(t *testing.T) {
	t.Parallel()
	f := startRelayFixture(t, nil, 0)
	msg := []byte("GET / HTTP/1.0\r\n\r\n")
	before := f.relays.Copied()
	if _, err := f.app.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	f.server.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(f.server, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("got %q, %v", got, err)
	}
	f.app.Close()
	f.server.Close()
	f.wait(t)
	// Counted only now that the relay has ended: the relay adds to the
	// counter after its write returns, which can be after the reader
	// above already has the bytes.
	if copied := f.relays.Copied() - before; copied != int64(len(msg)) {
		t.Errorf("copied %d bytes, want %d", copied, len(msg))
	}
}

// BenchmarkRelayBulk is the relay's throughput on one loopback stream.
func BenchmarkRelayBulk(b *testing.B) {
	app, clientSide := testnet.TCPPair(b)
	dstSide, server := testnet.TCPPair(b)
	New().Start(clientSide, dstSide, 0, func(Result) {})
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	go func() {
		for {
			if _, err := server.Read(buf); err != nil {
				return
			}
		}
	}()
	out := make([]byte, 1<<20)
	for b.Loop() {
		if _, err := app.Write(out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelayExchange is one small request and reply through a relay
// that is set up and torn down each time: the relay's share of a
// connection's cost. The destination closes first, as a server does.
func BenchmarkRelayExchange(b *testing.B) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *net.TCPConn, 2)
	go func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	pair := func() (*net.TCPConn, *net.TCPConn) {
		a, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
		if err != nil {
			b.Fatal(err)
		}
		return a, <-accepted
	}
	req, rep := make([]byte, 64), make([]byte, 512)
	rs := New()
	for b.Loop() {
		app, clientSide := pair()
		dstSide, server := pair()
		done := make(chan struct{})
		rs.Start(clientSide, dstSide, 0, func(Result) {
			clientSide.Close()
			dstSide.Close()
			close(done)
		})
		app.Write(req)
		io.ReadFull(server, req)
		server.Write(rep)
		server.Close()
		io.ReadFull(app, rep)
		app.Close()
		<-done
	}
}
