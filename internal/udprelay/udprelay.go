// Package udprelay carries one SOCKS5 UDP association (RFC 1928 §7): the
// client's datagrams to their destinations and the answers back, each
// destination judged once per association, directly or (rsockd mode)
// through an upstream server's own association, until the control
// connection closes, speaks, or no datagram moves for the timeout.
//
// It does not read requests, send replies or decide anything itself: the
// server (internal/server) answers UDP ASSOCIATE, writes the "connected"
// and "terminated" lines, and lends the association its rules through
// Session. Datagram buffers come from internal/udppool; the upstream
// servers are spoken to through the client package.
package udprelay

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/internal/udppool"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// maxDestinations bounds the per-association memory of decisions; when
// full it starts over, which only costs new decisions.
const maxDestinations = 1024

// headerRoom is the longest header the relay puts in front of a reply
// (an IPv6 source address): replies are read behind this much room so the
// header is written in place, without copying the payload.
const headerRoom = 3 + 1 + 16 + 2

// Session is what an association asks of the SOCKS session it serves.
type Session interface {
	// Decide judges datagrams to dst by the server's rules (identd,
	// shell commands and the refusal's log line included); the
	// association asks once per destination. ok false drops them.
	Decide(dst socks.Addr) (to netip.AddrPort, ok bool)
	// Failed logs that datagrams to dst cannot go through an upstream:
	// op is the step that failed.
	Failed(dst socks.Addr, op string, err error)
	// Refused logs that the client configuration refuses dst.
	Refused(dst socks.Addr, d policy.ClientDecision)
	// Track closes c when the session ends; false means it already
	// ended, and c is closed.
	Track(c io.Closer) bool
}

// Config is one association's setting.
type Config struct {
	Control net.Conn       // the control connection: the association ends with it
	Client  netip.AddrPort // the client as logged; only datagrams from its address are taken
	Port    uint16         // the client's UDP port from the request; 0: the first datagram's
	Timeout time.Duration  // no datagram either way for this long ends the association
	Log     *slog.Logger
	Session Session

	// Upstream routes destinations by the client configuration (rsockd
	// mode); nil sends every permitted datagram directly. Waiting for
	// an upstream ends with Context or after ConnectTimeout.
	Upstream       *client.Dialer
	Context        context.Context
	ConnectTimeout time.Duration
}

// Association is one UDP ASSOCIATE. Datagrams are taken only from the
// client's address (Config.Client's IP, and Config.Port or, if that is 0,
// the first datagram's port); each new destination is decided once, and
// replies are passed back only from destinations the client was allowed to
// send to. Fragments (FRAG != 0) are dropped.
type Association struct {
	cfg        Config
	clientSide *net.UDPConn // where the client sends; its address is in the reply
	outSide    *net.UDPConn // towards the destinations
	clientPort atomic.Uint32

	mu        sync.Mutex
	decided   map[socks.Addr]verdict // by destination as the client wrote it
	permitted map[netip.AddrPort]struct{}

	fromClient, fromDst atomic.Int64
	last                atomic.Int64 // unix nanoseconds of the last datagram relayed

	upMu sync.Mutex
	up   upstreams // rsockd mode (upstream.go)
}

type verdict struct {
	to netip.AddrPort
	ok bool
}

// Open makes the association's two sockets: the client side on local,
// the address the client reached the server at, so that the reply's
// BND.ADDR is one the client can route to (never 0.0.0.0), and the side
// towards the destinations on any address.
func Open(local netip.Addr, cfg Config) (*Association, error) {
	cl, err := net.ListenUDP("udp", &net.UDPAddr{IP: local.AsSlice()})
	if err != nil {
		return nil, err
	}
	out, err := net.ListenUDP("udp", nil)
	if err != nil {
		cl.Close()
		return nil, err
	}
	a := &Association{cfg: cfg, clientSide: cl, outSide: out}
	a.touch()
	a.clientPort.Store(uint32(cfg.Port))
	return a, nil
}

// Addr is the client side's address, for the reply.
func (a *Association) Addr() netip.AddrPort {
	ap := a.clientSide.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Close closes both sockets; Serve then returns.
func (a *Association) Close() error {
	a.clientSide.Close()
	a.outSide.Close()
	return nil
}

// Bytes are the payload bytes relayed from the client and to it.
func (a *Association) Bytes() (fromClient, fromDst int64) {
	return a.fromClient.Load(), a.fromDst.Load()
}

// Serve relays until the association ends, closes its sockets and says
// why it ended.
func (a *Association) Serve() (why string) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.clientToDestinations() }()
	go func() { defer wg.Done(); a.destinationsToClient() }()
	why = a.watchControl()
	a.Close()
	wg.Wait()
	return why
}

func (a *Association) touch() { a.last.Store(time.Now().UnixNano()) }

// watchControl waits for the association's end and says why: the control
// connection closed, the client sent on it, or no datagram went either
// way for the timeout. It reads one byte at a time, into no buffer
// worth the name: the first byte ends the association, so junk costs a
// single read rather than a relay's worth of them.
func (a *Association) watchControl() string {
	c := a.cfg.Control
	defer c.SetReadDeadline(time.Time{})
	var one [1]byte
	for {
		end := time.Unix(0, a.last.Load()).Add(a.cfg.Timeout)
		if !time.Now().Before(end) {
			return "udp timeout"
		}
		c.SetReadDeadline(end)
		n, err := c.Read(one[:])
		if n > 0 {
			a.cfg.Log.Warn("UDP association ended: its client sent data on the control connection",
				"client", a.cfg.Client.String())
			return "data on the control connection"
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue // datagrams may have moved the end
		}
		return "control connection closed"
	}
}

func (a *Association) clientToDestinations() {
	want := a.cfg.Client.Addr()
	// Datagrams are read into pooled buffers: an idle association holds
	// none (two 64 KB buffers held for an association's whole life were
	// most of what an idle one cost; docs/measurements.md).
	udppool.Recv(a.clientSide, 0, func(buf []byte, n int, from netip.AddrPort) bool {
		a.fromClientDatagram(want, buf[:n], n, from)
		return true
	})
}

func (a *Association) fromClientDatagram(want netip.Addr, buf []byte, n int, from netip.AddrPort) {
	if from.Addr() != want {
		return // not the client: ignored
	}
	port := uint16(a.clientPort.Load())
	if port == 0 {
		a.clientPort.CompareAndSwap(0, uint32(from.Port()))
		port = uint16(a.clientPort.Load())
	}
	if from.Port() != port {
		return
	}
	h, hn, err := socks.ParseUDPHeader(buf[:n])
	if err != nil {
		return // a fragment, or not a SOCKS datagram: dropped
	}
	if a.viaUpstream(h.Dst, buf[hn:n]) {
		return
	}
	to, ok := a.verdict(h.Dst)
	if !ok {
		return
	}
	if _, err := a.outSide.WriteToUDPAddrPort(buf[hn:n], to); err == nil {
		a.fromClient.Add(int64(n - hn))
		a.touch()
	}
}

// verdict decides a destination once per association: the rules, identd
// and the shell command are not re-run for every datagram.
func (a *Association) verdict(dst socks.Addr) (netip.AddrPort, bool) {
	a.mu.Lock()
	v, seen := a.decided[dst]
	a.mu.Unlock()
	if seen {
		return v.to, v.ok
	}
	v.to, v.ok = a.cfg.Session.Decide(dst)
	a.mu.Lock()
	if a.decided == nil { // made at the first datagram: an idle association holds no map
		a.decided = make(map[socks.Addr]verdict)
		a.permitted = make(map[netip.AddrPort]struct{})
	}
	if len(a.decided) >= maxDestinations {
		clear(a.decided)
		clear(a.permitted)
	}
	a.decided[dst] = v
	if v.ok {
		a.permitted[v.to] = struct{}{}
	}
	a.mu.Unlock()
	return v.to, v.ok
}

func (a *Association) destinationsToClient() {
	udppool.Recv(a.outSide, headerRoom, func(buf []byte, n int, from netip.AddrPort) bool {
		a.fromDestinationDatagram(buf, n, from)
		return true
	})
}

func (a *Association) fromDestinationDatagram(buf []byte, n int, from netip.AddrPort) {
	a.mu.Lock()
	_, ok := a.permitted[from]
	a.mu.Unlock()
	port := uint16(a.clientPort.Load())
	if !ok || port == 0 {
		return // only answers from destinations the client may use
	}
	var hdr [headerRoom]byte
	h, err := socks.AppendUDPHeader(hdr[:0], socks.UDPHeader{Dst: socks.AddrFromAddrPort(from)})
	if err != nil {
		return
	}
	start := headerRoom - len(h)
	copy(buf[start:], h)
	to := netip.AddrPortFrom(a.cfg.Client.Addr(), port)
	if _, err := a.clientSide.WriteToUDPAddrPort(buf[start:headerRoom+n], to); err == nil {
		a.fromDst.Add(int64(n))
		a.touch()
	}
}
