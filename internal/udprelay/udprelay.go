package server

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/udppool"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// maxUDPDestinations bounds the per-association memory of decisions; when
// full it starts over, which only costs new decisions.
const maxUDPDestinations = 1024

// udpHeaderRoom is the longest header the relay puts in front of a reply
// (an IPv6 source address): replies are read behind this much room so the
// header is written in place, without copying the payload.
const udpHeaderRoom = 3 + 1 + 16 + 2

// DefaultUDPTimeout ends a UDP association with no datagram either way for
// this long (--udp-timeout). Peers keep idle UDP flows for minutes: Linux
// conntrack forgets an assured UDP stream after 120 s, sing-box's SOCKS
// inbound after 5 min (udp_timeout). Two minutes is long enough for DNS
// and keep-alive protocols, short enough that forgotten associations do
// not pile up.
const DefaultUDPTimeout = 2 * time.Minute

// udpTimeout is how long an association may go without a datagram: the
// UDP timeout, or the relay idle timeout when that is shorter.
func (s *Server) udpTimeout() time.Duration {
	d := s.opts.UDPTimeout
	if d <= 0 {
		d = DefaultUDPTimeout
	}
	if s.opts.IdleTimeout > 0 {
		d = min(d, s.opts.IdleTimeout)
	}
	return d
}

// udpAssoc is one SOCKS5 UDP ASSOCIATE (RFC 1928 §7). Datagrams are taken
// only from the client's address (the control connection's IP, and the
// port the request named or, if it named none, the first datagram's port);
// each new destination is decided by the rules (policy.CmdUDP) once, and
// replies are passed back only from destinations the client was allowed to
// send to. Fragments (FRAG != 0) are dropped. The association ends with its
// control connection, when the client sends anything on that connection
// (RFC 1928 gives it nothing to say), or after the UDP timeout without a
// datagram either way.
type udpAssoc struct {
	ss         *session
	user       string
	clientSide *net.UDPConn // where the client sends; its address is in the reply
	outSide    *net.UDPConn // towards the destinations
	clientPort atomic.Uint32

	mu        sync.Mutex
	decided   map[socks.Addr]udpVerdict // by destination as the client wrote it
	permitted map[netip.AddrPort]struct{}

	fromClient, fromDst atomic.Int64
	last                atomic.Int64 // unix nanoseconds of the last datagram relayed

	upMu sync.Mutex
	up   udpUpstreams // rsockd mode (upstream_udp.go)
}

type udpVerdict struct {
	to netip.AddrPort
	ok bool
}

func (ss *session) udpAssociate(req socks.V5Request, user string) {
	lr := logline.Request{Command: "UDP", User: user, Src: ss.srcName(), Service: ss.service(req.Dst.Port)}
	if !req.Dst.IP.IsUnspecified() || req.Dst.Name != "" {
		lr.Dst = req.Dst.String()
	}
	fail := func(op string, err error) {
		ss.logFailure(lr, op, err)
		ss.replyV5(socks.V5GeneralFailure, socks.Addr{})
	}
	// The client side listens on the address the client reached us at, so
	// the reply's BND.ADDR is one the client can route to (never 0.0.0.0).
	cl, err := net.ListenUDP("udp", &net.UDPAddr{IP: ss.local.Addr().AsSlice()})
	if err != nil {
		fail("bind", err)
		return
	}
	if !ss.track(cl) {
		return
	}
	out, err := net.ListenUDP("udp", nil)
	if err != nil {
		fail("bind", err)
		return
	}
	if !ss.track(out) {
		return
	}
	a := &udpAssoc{ss: ss, user: user, clientSide: cl, outSide: out}
	a.touch()
	if req.Dst.Port != 0 {
		a.clientPort.Store(uint32(req.Dst.Port))
	}
	if !ss.replyV5(socks.V5Succeeded, socks.AddrFromAddrPort(unmapAP(cl.LocalAddr()))) {
		return
	}
	ss.s.log.Info(logline.Connected(lr, ""), "client", ss.src.String(), "relay", unmapAP(cl.LocalAddr()).String())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.clientToDestinations() }()
	go func() { defer wg.Done(); a.destinationsToClient() }()
	why := a.watchControl()
	cl.Close()
	out.Close()
	wg.Wait()
	ss.s.log.Info(logline.Terminated(lr, a.fromClient.Load(), a.fromDst.Load()), "client", ss.src.String(),
		"bytes_from_client", a.fromClient.Load(), "bytes_from_destination", a.fromDst.Load(), "ended", why)
}

func (a *udpAssoc) touch() { a.last.Store(time.Now().UnixNano()) }

// watchControl waits for the association's end and says why: the control
// connection closed, the client sent on it, or no datagram went either
// way for the UDP timeout. It reads one byte at a time, into no buffer
// worth the name: the first byte ends the association, so junk costs a
// single read rather than a relay's worth of them.
func (a *udpAssoc) watchControl() string {
	c := a.ss.client
	defer c.SetReadDeadline(time.Time{})
	timeout := a.ss.s.udpTimeout()
	var one [1]byte
	for {
		end := time.Unix(0, a.last.Load()).Add(timeout)
		if !time.Now().Before(end) {
			return "udp timeout"
		}
		c.SetReadDeadline(end)
		n, err := c.Read(one[:])
		if n > 0 {
			a.ss.s.log.Warn("UDP association ended: its client sent data on the control connection",
				"client", a.ss.src.String())
			return "data on the control connection"
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue // datagrams may have moved the end
		}
		return "control connection closed"
	}
}

func (a *udpAssoc) clientToDestinations() {
	want := a.ss.src.Addr()
	// Datagrams are read into pooled buffers: an idle association holds
	// none (issue 18: two 64 KB buffers held for an association's whole
	// life made an idle one cost 88 KB).
	udppool.Recv(a.clientSide, 0, func(buf []byte, n int, from netip.AddrPort) bool {
		a.fromClientDatagram(want, buf[:n], n, from)
		return true
	})
}

func (a *udpAssoc) fromClientDatagram(want netip.Addr, buf []byte, n int, from netip.AddrPort) {
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
func (a *udpAssoc) verdict(dst socks.Addr) (netip.AddrPort, bool) {
	a.mu.Lock()
	v, seen := a.decided[dst]
	a.mu.Unlock()
	if seen {
		return v.to, v.ok
	}
	ss := a.ss
	lr := logline.Request{Command: "Connect", User: a.user, Src: ss.srcName(), Dst: dst.Name, Service: ss.service(dst.Port)}
	ip := dst.IP.Unmap()
	var d policy.Decision
	var resolveErr error
	if dst.Name != "" {
		d, resolveErr = ss.decideName(policy.CmdUDP, &ip, dst.Name, dst.Port, a.user, &lr)
	} else {
		lr.Dst = ip.String()
		d = ss.decide(ss.policyRequest(policy.CmdUDP, ip, dst.Name, dst.Port, a.user), &lr)
	}
	v.ok = d.Permit && resolveErr == nil
	if d.Permit && resolveErr != nil {
		ss.logFailure(lr, "resolve", resolveErr)
	}
	if v.ok {
		v.to = netip.AddrPortFrom(ip, dst.Port)
	}
	a.mu.Lock()
	if a.decided == nil { // made at the first datagram: an idle association holds no map
		a.decided = make(map[socks.Addr]udpVerdict)
		a.permitted = make(map[netip.AddrPort]struct{})
	}
	if len(a.decided) >= maxUDPDestinations {
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

func (a *udpAssoc) destinationsToClient() {
	udppool.Recv(a.outSide, udpHeaderRoom, func(buf []byte, n int, from netip.AddrPort) bool {
		a.fromDestinationDatagram(buf, n, from)
		return true
	})
}

func (a *udpAssoc) fromDestinationDatagram(buf []byte, n int, from netip.AddrPort) {
	a.mu.Lock()
	_, ok := a.permitted[from]
	a.mu.Unlock()
	port := uint16(a.clientPort.Load())
	if !ok || port == 0 {
		return // only answers from destinations the client may use
	}
	var hdr [udpHeaderRoom]byte
	h, err := socks.AppendUDPHeader(hdr[:0], socks.UDPHeader{Dst: socks.AddrFromAddrPort(from)})
	if err != nil {
		return
	}
	start := udpHeaderRoom - len(h)
	copy(buf[start:], h)
	to := netip.AddrPortFrom(a.ss.src.Addr(), port)
	if _, err := a.clientSide.WriteToUDPAddrPort(buf[start:udpHeaderRoom+n], to); err == nil {
		a.fromDst.Add(int64(n))
		a.touch()
	}
}
