package udprelay

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// fakeSession permits every destination but those in refuse, and counts
// the decisions.
type fakeSession struct {
	mu      sync.Mutex
	refuse  map[socks.Addr]bool
	decided map[socks.Addr]int
	closers []io.Closer
}

func (f *fakeSession) Decide(dst socks.Addr) (netip.AddrPort, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.decided == nil {
		f.decided = make(map[socks.Addr]int)
	}
	f.decided[dst]++
	if f.refuse[dst] {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(dst.IP, dst.Port), true
}

func (f *fakeSession) decisions(dst socks.Addr) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.decided[dst]
}

func (f *fakeSession) Failed(socks.Addr, string, error)          {}
func (f *fakeSession) Refused(socks.Addr, policy.ClientDecision) {}
func (f *fakeSession) Track(c io.Closer) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closers = append(f.closers, c)
	return true
}

// assoc is a running association, its client's UDP socket and the
// client's end of the control connection.
type assoc struct {
	*Association
	sess    *fakeSession
	client  *net.UDPConn
	control net.Conn
	log     *testnet.Buffer
	ended   chan string
}

func start(t *testing.T, timeout time.Duration, refuse ...socks.Addr) *assoc {
	t.Helper()
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: loopback.AsSlice()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	ours, theirs := net.Pipe()
	t.Cleanup(func() { ours.Close(); theirs.Close() })
	sess := &fakeSession{refuse: make(map[socks.Addr]bool)}
	for _, r := range refuse {
		sess.refuse[r] = true
	}
	log := &testnet.Buffer{}
	a, err := Open(loopback, Config{
		Control: ours, Client: netip.AddrPortFrom(loopback, 1), Port: uint16(u.LocalAddr().(*net.UDPAddr).Port),
		Timeout: timeout, Log: slog.New(slog.NewTextHandler(log, nil)), Session: sess,
	})
	if err != nil {
		t.Fatal(err)
	}
	x := &assoc{Association: a, sess: sess, client: u, control: theirs, log: log, ended: make(chan string, 1)}
	go func() { x.ended <- a.Serve() }()
	t.Cleanup(func() { a.Close(); theirs.Close(); <-x.ended })
	return x
}

// echo answers every datagram with its payload, on 127.0.0.1.
func echo(t *testing.T) socks.Addr {
	u := testnet.EchoUDPT(t, "127.0.0.1:0", "")
	return socks.AddrFromAddrPort(u.LocalAddr().(*net.UDPAddr).AddrPort())
}

// exchange sends payload to dst through the association, resending a few
// times (UDP may lose a datagram even on loopback), and returns the
// first answer's header and payload.
func (x *assoc) exchange(t *testing.T, dst socks.Addr, payload string, wait time.Duration) (socks.UDPHeader, string, bool) {
	t.Helper()
	h, err := socks.AppendUDPHeader(nil, socks.UDPHeader{Dst: dst})
	if err != nil {
		t.Fatal(err)
	}
	relay := net.UDPAddrFromAddrPort(x.Addr())
	buf := make([]byte, 2048)
	for range 5 {
		if _, err := x.client.WriteToUDP(append(h, payload...), relay); err != nil {
			t.Fatal(err)
		}
		x.client.SetReadDeadline(time.Now().Add(wait))
		n, _, err := x.client.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		rh, hn, err := socks.ParseUDPHeader(buf[:n])
		if err != nil {
			t.Fatalf("answer without a SOCKS header: %v", err)
		}
		return rh, string(buf[hn:n]), true
	}
	return socks.UDPHeader{}, "", false
}

func TestRoundTripDecidesOnce(t *testing.T) {
	x := start(t, time.Minute)
	dst := echo(t)
	for i := range 3 {
		h, got, ok := x.exchange(t, dst, "ping", time.Second)
		if !ok {
			t.Fatalf("round %d: no answer", i)
		}
		if got != "ping" || h.Dst != dst {
			t.Fatalf("round %d: answer %q from %v, want \"ping\" from %v", i, got, h.Dst, dst)
		}
	}
	if n := x.sess.decisions(dst); n != 1 {
		t.Errorf("destination decided %d times, want once per association", n)
	}
	// The counters move just after each write, so the last answer may
	// arrive before them.
	counted := func() bool { from, to := x.Bytes(); return from >= 12 && to >= 12 }
	if !testnet.Eventually(5*time.Second, 10*time.Millisecond, counted) {
		from, to := x.Bytes()
		t.Errorf("bytes from client %d, to client %d: want at least 12 each", from, to)
	}
}

func TestRefusedDestinationIsDropped(t *testing.T) {
	dst := echo(t)
	x := start(t, time.Minute, dst)
	if _, got, ok := x.exchange(t, dst, "ping", 200*time.Millisecond); ok {
		t.Fatalf("refused destination answered %q", got)
	}
	if from, _ := x.Bytes(); from != 0 {
		t.Errorf("%d bytes relayed to a refused destination", from)
	}
}

// TestOnlyPermittedSourcesAnswer: a datagram to the association's outer
// side from somewhere the client never sent to is not passed on.
func TestOnlyPermittedSourcesAnswer(t *testing.T) {
	x := start(t, time.Minute)
	dst := echo(t)
	if _, _, ok := x.exchange(t, dst, "ping", time.Second); !ok {
		t.Fatal("no answer from a permitted destination")
	}
	stranger, err := net.ListenUDP("udp", &net.UDPAddr{IP: loopback.AsSlice()})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	out := net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(x.outSide.LocalAddr().(*net.UDPAddr).Port)))
	if _, err := stranger.WriteToUDP([]byte("spoof"), out); err != nil {
		t.Fatal(err)
	}
	x.client.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _, err := x.client.ReadFromUDP(make([]byte, 2048)); err == nil {
		t.Fatalf("a stranger's datagram reached the client (%d bytes)", n)
	}
}

func TestEnds(t *testing.T) {
	for name, tc := range map[string]struct {
		timeout time.Duration
		act     func(x *assoc)
		why     string
	}{
		"timeout":      {200 * time.Millisecond, func(*assoc) {}, "udp timeout"},
		"control gone": {time.Minute, func(x *assoc) { x.control.Close() }, "control connection closed"},
		"control data": {time.Minute, func(x *assoc) { go x.control.Write([]byte("junk")) }, "data on the control connection"},
	} {
		t.Run(name, func(t *testing.T) {
			x := start(t, tc.timeout)
			tc.act(x)
			select {
			case why := <-x.ended:
				x.ended <- why // for the cleanup
				if why != tc.why {
					t.Errorf("ended: %q, want %q", why, tc.why)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("association still running")
			}
			if tc.why == "data on the control connection" && !strings.Contains(x.log.String(), "sent data on the control connection") {
				t.Errorf("log: %q", x.log.String())
			}
		})
	}
}
