package acceptgate

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/testnet"
)

func TestSessionBudget(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		limit uint64
		want  int
	}{
		{20000, 9500}, // 1000 kept free, two descriptors a session
		{1024, 480},   // the reserve is at least 64
		{65, 1},       // never zero: a worker must be able to serve
		{0, 1},
	} {
		if got := SessionBudget(c.limit); got != c.want {
			t.Errorf("SessionBudget(%d) = %d, want %d", c.limit, got, c.want)
		}
	}
}

// gatedServer serves a listener through Listener with a descriptor limit
// that leaves room for budget sessions. Its sessions answer a SOCKS5
// greeting with "no authentication" and last until the client leaves, as
// the server's do; active counts them as the server's Active does.
func gatedServer(t *testing.T, limit uint64, countFDs func() (int, error)) (addr string, logs *testnet.Buffer, active *atomic.Int64) {
	t.Helper()
	logs, active = &testnet.Buffer{}, &atomic.Int64{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := Listener(ln, limit, func() int { return int(active.Load()) },
		logline.New(logs, logline.FormatText, slog.LevelDebug)).(*gatedListener)
	if countFDs != nil {
		g.countFDs = countFDs
	}
	t.Cleanup(func() { g.Close() })
	go testnet.Serve(countedListener{g, active}, func(c net.Conn) {
		defer active.Add(-1)
		var b [3]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return
		}
		c.Write([]byte{5, 0})
		io.Copy(io.Discard, c)
	})
	return ln.Addr().String(), logs, active
}

// countedListener counts a session in when Accept returns it, as the
// server does before its next Accept; the session counts itself out.
type countedListener struct {
	net.Listener
	active *atomic.Int64
}

func (l countedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.active.Add(1)
	}
	return c, err
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !testnet.Eventually(20*time.Second, 5*time.Millisecond, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// greeted reports whether the server answered a SOCKS5 greeting within
// wait: only an accepted connection is answered.
func greeted(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	var b [2]byte
	_, err := io.ReadFull(c, b[:])
	c.SetReadDeadline(time.Time{})
	return err == nil && b == [2]byte{5, 0}
}

var greeting = []byte{5, 1, 0}

// TestGateWaitsAtTheSessionBudget: with the budget full, a new connection
// waits in the listen queue (another worker would take it) and is
// accepted as soon as a session ends.
func TestGateWaitsAtTheSessionBudget(t *testing.T) {
	t.Parallel()
	const limit = 70 // SessionBudget(70) = 3
	addr, logs, active := gatedServer(t, limit, func() (int, error) { return 0, nil })
	var held []net.Conn
	for range SessionBudget(limit) {
		c := dial(t, addr)
		held = append(held, c)
		if _, err := c.Write(greeting); err != nil {
			t.Fatal(err)
		}
		if !greeted(c, 20*time.Second) {
			t.Fatal("a session within the budget was not served")
		}
	}
	waitFor(t, "the sessions to be counted", func() bool { return int(active.Load()) == len(held) })
	extra := dial(t, addr) // the kernel completes the handshake: it is queued
	if _, err := extra.Write(greeting); err != nil {
		t.Fatal(err)
	}
	// A slow machine only makes an answer less likely, never more.
	if greeted(extra, 300*time.Millisecond) {
		t.Fatal("accepted beyond the session budget")
	}
	held[0].Close()
	if !greeted(extra, 20*time.Second) {
		t.Fatal("the queued connection was not accepted once a session ended")
	}
	for _, want := range []string{"near the open file limit: not accepting", "accepting again"} {
		waitFor(t, "log line "+want, func() bool { return strings.Contains(logs.String(), want) })
	}
	for _, c := range held[1:] {
		c.Close()
	}
	extra.Close()
}

// TestGateCountsDescriptors: beyond half the budget, the descriptors
// actually open decide (pipes of busy relays, identd and DNS sockets
// are not sessions), and running out of them altogether pauses too.
func TestGateCountsDescriptors(t *testing.T) {
	const limit = 1024 // budget 480, so counting starts at 240 sessions
	var active int
	g := &gatedListener{active: func() int { return active }, limit: limit, budget: 4}
	for _, c := range []struct {
		active int
		fds    int
		err    error
		full   bool
	}{
		{active: 1, fds: limit, full: false}, // below half the budget: not counted
		{active: 2, fds: 100, full: false},
		{active: 2, fds: limit - 10, full: true},
		{active: 3, err: syscall.EMFILE, full: true},
		{active: 3, err: errors.New("no procfs"), full: false},
		{active: 4, fds: 0, full: true}, // the budget itself
	} {
		active = c.active
		g.countedAt = time.Time{}
		g.countFDs = func() (int, error) { return c.fds, c.err }
		if got := g.full(); got != c.full {
			t.Errorf("%d sessions, %d descriptors, err %v: full %v, want %v", c.active, c.fds, c.err, got, c.full)
		}
	}
}

func TestGateCloseEndsAWaitingAccept(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := Listener(ln, 70, func() int { return 10 }, slog.New(slog.DiscardHandler)) // budget 3: full
	done := make(chan error, 1)
	go func() { _, err := g.Accept(); done <- err }()
	g.Close()
	if err := testnet.RecvT(t, done, 20*time.Second, "Accept to end after Close"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}

func TestCountOpenFDs(t *testing.T) {
	before, err := OpenFDs()
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	testnet.EchoT(t, "tcp", "127.0.0.1:0")
	after, err := OpenFDs()
	if err != nil || after < before+1 {
		t.Fatalf("count %d then %d (%v): a new listener not seen", before, after, err)
	}
}
