package server

// The outgoing side of a goroutine session, once its request is decided:
// the connect to the destination, the BIND listener and its peer, and the
// relay with its closing log line. The handshake, the request and its
// decision are in session.go and session_request.go.

import (
	"net"
	"net/netip"
	"time"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/relay"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// dial connects to the destination as dialSpec says.
func (ss *session) dial(ip netip.Addr, port uint16, name string) (*net.TCPConn, error) {
	start := time.Now()
	spec := ss.dialSpec(ip, name, start, nil)
	d := net.Dialer{Deadline: spec.deadline, KeepAliveConfig: keepAlive}
	if spec.from.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: spec.from.AsSlice()}
	}
	c, err := d.DialContext(ss.context(), "tcp", netip.AddrPortFrom(ip, port).String())
	ss.s.metrics.Connected(start)
	if err != nil {
		return nil, err
	}
	tc := c.(*net.TCPConn)
	if !ss.track(tc) {
		return nil, net.ErrClosed
	}
	return tc, nil
}

// listenBind opens the BIND listener on the interface the route file names
// for the expected peer, else on the address the client reached us at, so
// that the reply carries an address the peer can be told to use.
func (ss *session) listenBind(peer netip.Addr, name string, v4Only bool) (*net.TCPListener, error) {
	la := ss.snap.routeTable.LocalAddr(peer, name)
	if !la.IsValid() {
		la = ss.local.Addr()
	}
	if v4Only && !la.Is4() {
		la = netip.IPv4Unspecified()
	}
	ln, err := ss.listenBindPort(la)
	if err != nil {
		return nil, err
	}
	if !ss.track(ln) {
		return nil, net.ErrClosed
	}
	return ln, nil
}

// acceptBind waits for the one peer of a BIND within the bind timeout.
func (ss *session) acceptBind(ln *net.TCPListener) (*net.TCPConn, error) {
	ln.SetDeadline(time.Now().Add(ss.s.opts.BindTimeout))
	c, err := ln.AcceptTCP()
	ln.Close() // one peer only, as 4.3's backlog of 1 meant
	if err != nil {
		return nil, err
	}
	if !ss.track(c) {
		return nil, net.ErrClosed
	}
	return c, nil
}

// bindPeerAllowed decides the peer that connected to a BIND listener as
// the request's destination: it must come from the requested address
// (4.3 compared the address only, not the port), and a BIND that named
// none (0.0.0.0 or ::) lets in only a peer the rules permit for the same
// request with the peer's address: "any peer the rules permit", never
// "any peer". A refusal is logged naming the peer; so is, through lr, the
// relay of a BIND that named none.
func (ss *session) bindPeerAllowed(expect netip.Addr, peer netip.AddrPort, port uint16, lr *logline.Request) bool {
	if !expect.IsUnspecified() {
		if peer.Addr() != expect {
			ss.s.log.Warn(logline.WrongHost(*lr, peer.Addr().String(), portString(peer.Port())), "client", ss.src.String(),
				"peer", peer.String())
			return false
		}
		return true // the request's decision judged this address
	}
	lr.Dst = peer.Addr().String()
	d := ss.decide(ss.policyRequest(policy.CmdBind, peer.Addr(), "", port, lr.User), lr)
	return d.Permit
}

// releaseBuf gives the handshake buffer back: a relay may last hours, and
// the buffer is not needed once the leftover bytes are forwarded.
func (ss *session) releaseBuf() {
	if ss.buf != nil {
		handshakeBufs.Put(ss.buf)
		ss.buf = nil
	}
}

// runRelay forwards the bytes read beyond the request, relays, and logs
// the end of the session.
func (ss *session) runRelay(peer *net.TCPConn, leftover []byte, lr logline.Request) {
	ss.endPending()
	ss.relayFrom(peer, leftover, nil, relay.Result{}, false, false, lr)
}

// relayFrom writes what was read for each side before the relay began
// (toDst, toClient), within the connect timeout, then relays between the
// client and dst; pre counts the bytes moved before, upEnded and downEnded
// say which direction has already passed its end of file on. The relay's
// end is logged and finishes the session; a failed write is logged at
// once, and the caller finishes the session (it is not detached).
func (ss *session) relayFrom(dst *net.TCPConn, toDst, toClient []byte, pre relay.Result, upEnded, downEnded bool, lr logline.Request) {
	n, err := ss.writePending(dst, toDst)
	pre.FromClient += n
	if err == nil {
		n, err = ss.writePending(ss.client, toClient)
		pre.FromDst += n
	}
	ss.releaseBuf() // toDst may alias it: not used past this point
	if err != nil {
		pre.Err = err
		ss.logRelayEnd(lr, pre)
		return
	}
	ss.detached = true
	ss.s.relays.StartFrom(ss.client, dst, ss.s.opts.IdleTimeout, upEnded, downEnded, func(res relay.Result) {
		res.FromClient += pre.FromClient
		res.FromDst += pre.FromDst
		ss.s.relays.Go(func() { // off the relay goroutine: see relay.Relays
			ss.logRelayEnd(lr, res)
			ss.finish()
		})
	})
}

// writePending writes b to c within the connect timeout.
func (ss *session) writePending(c *net.TCPConn, b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c.SetWriteDeadline(time.Now().Add(ss.s.opts.ConnectTimeout))
	n, err := c.Write(b)
	c.SetWriteDeadline(time.Time{})
	return int64(n), err
}

func (ss *session) logRelayEnd(lr logline.Request, res relay.Result) {
	ss.s.metrics.RelayEnded(&ss.obs, res.FromClient, res.FromDst)
	attrs := []any{"client", ss.src.String(), "bytes_from_client", res.FromClient, "bytes_from_destination", res.FromDst}
	if res.Idle {
		ss.s.log.Info(logline.TimedOut(lr), attrs...)
	}
	if res.Err != nil {
		attrs = append(attrs, "err", res.Err)
	}
	ss.s.log.Info(logline.Terminated(lr, res.FromClient, res.FromDst), attrs...)
}

// logDialFailure writes "failed -- ..." or "timed-out -- ...".
func (ss *session) logFailure(lr logline.Request, op string, err error) {
	if isRouteDenied(err) {
		return // logged as refused by dialOut
	}
	if ss.left.Load() {
		err = errClientLeft
	}
	ss.s.metrics.Failed(&ss.obs, op, err)
	if socks.IsTimeout(err) {
		ss.s.log.Info(logline.TimedOut(lr), "client", ss.src.String(), "op", op)
		return
	}
	ss.s.log.Info(logline.Failed(lr, op, err), "client", ss.src.String())
}
