package server

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/sockd/sockd/internal/logline"
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

// udpAssoc is one SOCKS5 UDP ASSOCIATE (RFC 1928 §7). Datagrams are taken
// only from the client's address (the control connection's IP, and the
// port the request named or, if it named none, the first datagram's port);
// each new destination is decided by the rules (policy.CmdUDP) once, and
// replies are passed back only from destinations the client was allowed to
// send to. Fragments (FRAG != 0) are dropped. The association lives as long
// as its control connection.
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
	a := &udpAssoc{ss: ss, user: user, clientSide: cl, outSide: out,
		decided: make(map[socks.Addr]udpVerdict), permitted: make(map[netip.AddrPort]struct{})}
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
	// The association ends when the control connection does; anything the
	// client sends on it is meaningless and discarded.
	var sink [64]byte
	for {
		if _, err := ss.client.Read(sink[:]); err != nil {
			break
		}
	}
	cl.Close()
	out.Close()
	wg.Wait()
	ss.s.log.Info(logline.Terminated(lr, a.fromClient.Load(), a.fromDst.Load()), "client", ss.src.String(),
		"bytes_from_client", a.fromClient.Load(), "bytes_from_destination", a.fromDst.Load())
}

func (a *udpAssoc) clientToDestinations() {
	buf := make([]byte, 64*1024)
	want := a.ss.src.Addr()
	for {
		n, from, err := a.clientSide.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if from.Addr() != want {
			continue // not the client: ignored
		}
		port := uint16(a.clientPort.Load())
		if port == 0 {
			a.clientPort.CompareAndSwap(0, uint32(from.Port()))
			port = uint16(a.clientPort.Load())
		}
		if from.Port() != port {
			continue
		}
		h, hn, err := socks.ParseUDPHeader(buf[:n])
		if err != nil {
			continue // a fragment, or not a SOCKS datagram: dropped
		}
		if a.viaUpstream(h.Dst, buf[hn:n]) {
			continue
		}
		to, ok := a.verdict(h.Dst)
		if !ok {
			continue
		}
		if _, err := a.outSide.WriteToUDPAddrPort(buf[hn:n], to); err == nil {
			a.fromClient.Add(int64(n - hn))
		}
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
	var resolveErr error
	if dst.Name != "" {
		ip, resolveErr = ss.resolve(dst.Name)
	} else {
		lr.Dst = ip.String()
	}
	d := ss.decide(ss.policyRequest(policy.CmdUDP, ip, dst.Name, dst.Port, a.user), &lr)
	v.ok = d.Permit && resolveErr == nil
	if d.Permit && resolveErr != nil {
		ss.logFailure(lr, "resolve", resolveErr)
	}
	if v.ok {
		v.to = netip.AddrPortFrom(ip, dst.Port)
	}
	a.mu.Lock()
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
	buf := make([]byte, udpHeaderRoom+64*1024)
	var hdr [udpHeaderRoom]byte
	for {
		n, from, err := a.outSide.ReadFromUDPAddrPort(buf[udpHeaderRoom:])
		if err != nil {
			return
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		a.mu.Lock()
		_, ok := a.permitted[from]
		a.mu.Unlock()
		port := uint16(a.clientPort.Load())
		if !ok || port == 0 {
			continue // only answers from destinations the client may use
		}
		h, err := socks.AppendUDPHeader(hdr[:0], socks.UDPHeader{Dst: socks.AddrFromAddrPort(from)})
		if err != nil {
			continue
		}
		start := udpHeaderRoom - len(h)
		copy(buf[start:], h)
		to := netip.AddrPortFrom(a.ss.src.Addr(), port)
		if _, err := a.clientSide.WriteToUDPAddrPort(buf[start:udpHeaderRoom+n], to); err == nil {
			a.fromDst.Add(int64(n))
		}
	}
}
