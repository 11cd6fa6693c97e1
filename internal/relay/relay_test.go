package relay

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
)

// relay is Start, waited for. leftover, the bytes a handshake read beyond
// the request, goes to dst first, as the server writes them before it
// starts the relay, and is counted in FromClient.
func (rs *Relays) relay(client, dst *net.TCPConn, leftover []byte, idle time.Duration) Result {
	var pre int64
	if len(leftover) > 0 {
		n, err := dst.Write(leftover)
		pre = int64(n)
		if err != nil {
			return Result{FromClient: pre, Err: err}
		}
	}
	ch := make(chan Result, 1)
	rs.Start(client, dst, idle, func(r Result) { ch <- r })
	r := <-ch
	r.FromClient += pre
	return r
}

// relayFixture: app <-> [clientSide | relay | dstSide] <-> server.
type relayFixture struct {
	app, server *net.TCPConn
	done        chan Result
	relays      *Relays // the fixture's own: its counter is this relay's alone
}

func startRelayFixture(t *testing.T, leftover []byte, idle time.Duration) *relayFixture {
	app, clientSide := testnet.TCPPair(t)
	dstSide, server := testnet.TCPPair(t)
	f := &relayFixture{app: app, server: server, done: make(chan Result, 1), relays: New()}
	go func() {
		res := f.relays.relay(clientSide, dstSide, leftover, idle)
		clientSide.Close()
		dstSide.Close()
		f.done <- res
	}()
	return f
}

func (f *relayFixture) wait(t *testing.T) Result {
	t.Helper()
	select {
	case r := <-f.done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("relay did not end within 30s")
		return Result{}
	}
}

func readAllWithin(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}

// TestRelayHalfCloseBothWays: the client finishes sending first, then the
// server still answers; the answer arrives and the counts are exact,
// leftover included.
func TestRelayHalfCloseBothWays(t *testing.T) {
	t.Parallel()
	f := startRelayFixture(t, []byte("pipelined-"), 0)
	if _, err := f.app.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	f.app.CloseWrite()
	got := readAllWithin(t, f.server) // EOF arrives because the relay passed the half-close on
	if string(got) != "pipelined-request" {
		t.Fatalf("server got %q", got)
	}
	if _, err := f.server.Write([]byte("response after client EOF")); err != nil {
		t.Fatal(err)
	}
	f.server.CloseWrite()
	if got := readAllWithin(t, f.app); string(got) != "response after client EOF" {
		t.Fatalf("app got %q", got)
	}
	r := f.wait(t)
	if r.Err != nil || r.Idle {
		t.Fatalf("result %+v", r)
	}
	if r.FromClient != int64(len("pipelined-request")) || r.FromDst != int64(len("response after client EOF")) {
		t.Fatalf("counts %d/%d", r.FromClient, r.FromDst)
	}
}

// TestRelayServerClosesFirst: the other half-close order.
func TestRelayServerClosesFirst(t *testing.T) {
	t.Parallel()
	f := startRelayFixture(t, nil, 0)
	f.server.Write([]byte("banner"))
	f.server.CloseWrite()
	if got := readAllWithin(t, f.app); string(got) != "banner" {
		t.Fatalf("app got %q", got)
	}
	f.app.Write([]byte("late reply"))
	f.app.CloseWrite()
	if got := readAllWithin(t, f.server); string(got) != "late reply" {
		t.Fatalf("server got %q", got)
	}
	r := f.wait(t)
	if r.FromClient != 10 || r.FromDst != 6 || r.Err != nil {
		t.Fatalf("result %+v", r)
	}
}

// TestRelayBulk moves 32 MiB each way at once and checks every byte.
func TestRelayBulk(t *testing.T) {
	t.Parallel()
	const size = 32 << 20
	up := make([]byte, size)
	down := make([]byte, size)
	rand.Read(up)
	rand.Read(down)
	f := startRelayFixture(t, nil, time.Hour)
	errc := make(chan error, 2)
	go func() { _, err := f.app.Write(up); f.app.CloseWrite(); errc <- err }()
	go func() { _, err := f.server.Write(down); f.server.CloseWrite(); errc <- err }()
	gotDown := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(f.app); gotDown <- b }()
	f.server.SetReadDeadline(time.Now().Add(60 * time.Second))
	gotUp, err := io.ReadAll(f.server)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	var gd []byte
	select {
	case gd = <-gotDown:
	case <-time.After(60 * time.Second):
		t.Fatal("download did not finish")
	}
	if !bytes.Equal(gotUp, up) || !bytes.Equal(gd, down) {
		t.Fatal("data corrupted in relay")
	}
	r := f.wait(t)
	if r.FromClient != size || r.FromDst != size {
		t.Fatalf("counts %d/%d", r.FromClient, r.FromDst)
	}
}

// TestRelayIdleTimeout: with nothing moving, the relay ends by itself and
// says it was the idle timeout; both ends see the connection closed.
func TestRelayIdleTimeout(t *testing.T) {
	t.Parallel()
	f := startRelayFixture(t, nil, 100*time.Millisecond)
	r := f.wait(t)
	if !r.Idle || r.Err != nil {
		t.Fatalf("result %+v, want idle", r)
	}
	f.app.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := f.app.Read(make([]byte, 1)); err == nil {
		t.Fatal("app side still open after idle end")
	}
}

// TestRelayIdleAfterTraffic: traffic, then silence in both directions.
func TestRelayIdleAfterTraffic(t *testing.T) {
	t.Parallel()
	f := startRelayFixture(t, nil, 150*time.Millisecond)
	f.app.Write([]byte("ping"))
	buf := make([]byte, 4)
	f.server.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(f.server, buf); err != nil {
		t.Fatal(err)
	}
	r := f.wait(t)
	if !r.Idle || r.FromClient != 4 {
		t.Fatalf("result %+v", r)
	}
}

// TestRelayReset: an abortive close by one peer ends the whole session.
func TestRelayReset(t *testing.T) {
	t.Parallel()
	f := startRelayFixture(t, nil, 0)
	f.server.SetLinger(0)
	f.server.Close() // RST
	r := f.wait(t)
	if r.Idle {
		t.Fatalf("result %+v", r)
	}
	f.app.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(f.app); err != nil && !isTimeoutErr(err) {
		return // a reset seen by the app is fine too
	}
}

func isTimeoutErr(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// spliceResult is one spliceBulk call's outcome, for tests that bound it
// in time.
type spliceResult struct {
	n   int64
	err error
}

func spliceBulkAsync(dst, src *net.TCPConn) chan spliceResult {
	ch := make(chan spliceResult, 1)
	go func() {
		n, err := New().spliceBulk(dst, src)
		ch <- spliceResult{n, err}
	}()
	return ch
}

func waitSplice(t *testing.T, ch chan spliceResult) spliceResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("spliceBulk did not return within 30s")
		return spliceResult{}
	}
}

// openPipes lists the pipes this process has open, by inode.
func openPipes(t *testing.T) map[string]bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	pipes := map[string]bool{}
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "pipe:") {
			pipes[l] = true
		}
	}
	return pipes
}

// TestSpliceBulkSlowDestination: a destination that reads in small bites
// keeps both the destination and the pipe full, the case where the
// filler's EAGAIN means "no room" rather than "no data". Every byte
// arrives, in order, and the count is exact.
func TestSpliceBulkSlowDestination(t *testing.T) {
	t.Parallel()
	app, src := testnet.TCPPair(t)
	dst, server := testnet.TCPPair(t)
	const size = 8 << 20
	data := make([]byte, size)
	rand.Read(data)
	go func() { app.Write(data); app.CloseWrite() }()
	res := spliceBulkAsync(dst, src)
	got := make([]byte, 0, size)
	buf := make([]byte, 4<<10)
	server.SetReadDeadline(time.Now().Add(60 * time.Second))
	for len(got) < size {
		n, err := server.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
	}
	r := waitSplice(t, res)
	if r.err != nil || r.n != size {
		t.Fatalf("spliceBulk = %d, %v; want %d, nil", r.n, r.err, size)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("data corrupted in the pipe")
	}
}

// TestSpliceBulkHoldWindow: when the source's read deadline passes, the
// window ends with the deadline error after everything read has been
// written, and its pipe is closed; calls repeated until the data is
// through lose nothing.
//
// Not parallel: it counts the process's open pipes.
func TestSpliceBulkHoldWindow(t *testing.T) {
	app, src := testnet.TCPPair(t)
	dst, server := testnet.TCPPair(t)
	const size = 2 << 20
	data := make([]byte, size)
	rand.Read(data)
	pipesBefore := openPipes(t)
	go app.Write(data) // and then silence, without an end of file
	received := make(chan []byte, 1)
	go func() {
		server.SetReadDeadline(time.Now().Add(60 * time.Second))
		b := make([]byte, size)
		n, _ := io.ReadFull(server, b)
		received <- b[:n]
	}()
	var total int64
	for i := 0; i < 1000 && total < size; i++ {
		src.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		r := waitSplice(t, spliceBulkAsync(dst, src))
		total += r.n
		if !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Fatalf("window %d ended with %v, want the deadline", i, r.err)
		}
		for p := range openPipes(t) {
			if !pipesBefore[p] {
				t.Fatalf("window %d left %s open", i, p)
			}
		}
	}
	if total != size {
		t.Fatalf("moved %d of %d bytes", total, size)
	}
	select {
	case got := <-received:
		if !bytes.Equal(got, data) {
			t.Fatalf("received %d bytes, not the %d sent", len(got), size)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the destination did not receive everything")
	}
}

// TestSpliceBulkDestinationGone: the destination has been reset while the
// source, after one burst, stays silent with no deadline. The write
// failure must end the call anyway (the filler, waiting for room in a
// pipe nobody will empty, is told) and be reported.
func TestSpliceBulkDestinationGone(t *testing.T) {
	t.Parallel()
	app, src := testnet.TCPPair(t)
	dst, server := testnet.TCPPair(t)
	server.SetLinger(0)
	server.Close() // RST
	// The reset has arrived once a read says so.
	dst.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := dst.Read(make([]byte, 1)); err == nil || isTimeoutErr(err) {
		t.Fatalf("read after reset: %v", err)
	}
	if _, err := app.Write(make([]byte, 256<<10)); err != nil {
		t.Fatal(err)
	}
	src.SetReadDeadline(time.Time{})
	r := waitSplice(t, spliceBulkAsync(dst, src))
	if r.err == nil || errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("spliceBulk = %d, %v; want the destination's error", r.n, r.err)
	}
}
