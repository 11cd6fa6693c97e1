package server

import (
	"errors"
	"net/netip"
	"time"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// serveV4 handles a SOCKS4 or SOCKS4a request (spec §6).
func (ss *session) serveV4(rd *socks.Reader) {
	req, err := rd.ReadV4Request()
	if err != nil {
		var fe *socks.FieldError
		switch {
		case errors.Is(err, socks.ErrCommand) && errors.As(err, &fe):
			// 4.3 logs and closes without a reply.
			ss.s.log.Warn(logline.UndefinedCommand(byte(fe.Value), ss.srcName()), "client", ss.src.String())
		case errors.As(err, &fe):
			ss.s.log.Warn(logline.BadRequest(err, ss.srcName()), "client", ss.src.String())
			ss.replyV4(socks.V4Rejected, socks.Addr{})
		default:
			ss.handshakeFailed(err)
		}
		return
	}
	ss.client.SetDeadline(time.Time{})
	ss.watchPending()
	defer ss.endPending()

	lr := logline.Request{Command: "Connect", User: req.UserID, Src: ss.srcName(), Service: ss.service(req.Dst.Port)}
	cmd := policy.CmdConnect
	if req.Command == socks.V4Bind {
		lr.Command, cmd = "Bind", policy.CmdBind
	}
	dstIP, name := req.Dst.IP, req.Dst.Name
	switch {
	case name != "":
		lr.Dst = name
	case !dstIP.IsUnspecified():
		lr.Dst = dstIP.String()
	}
	if !ss.s.socks4Allowed() {
		ss.s.log.Warn(logline.Refused(lr)+": SOCKS4 cannot authenticate and the allowed methods exclude none", "client", ss.src.String())
		ss.replyV4(socks.V4Rejected, socks.Addr{})
		return
	}
	d, resolveErr := ss.decideDestination(cmd, &dstIP, name, req.Dst.Port, req.UserID, &lr)
	if !d.Permit {
		ss.replyV4(socks.V4ReplyCode(d.Reply4), socks.Addr{})
		return
	}
	if resolveErr != nil {
		ss.logFailure(lr, "resolve", resolveErr)
		ss.replyV4(socks.V4Rejected, socks.Addr{})
		return
	}
	if req.Command == socks.V4Bind {
		if !ss.bindUpstream(true, dstIP, name, req.UserID, lr, rd) {
			ss.bindWant = req.Dst.Port
			ss.bindV4(dstIP, name, req.Dst.Port, lr, rd)
		}
		return
	}
	if ss.proxyLoop(dstIP, req.Dst.Port, lr) {
		ss.replyV4(socks.V4Rejected, socks.Addr{})
		return
	}
	out, err := ss.dialOut(dstIP, req.Dst.Port, name, req.UserID, lr)
	if err != nil {
		ss.logFailure(lr, "connect", err)
		ss.replyV4(socks.V4Rejected, socks.Addr{})
		return
	}
	ss.endPending() // from the grant on, the client's end of file is a half-close
	if !ss.replyV4(socks.V4Granted, v4Bound(unmapAP(out.LocalAddr()))) {
		return
	}
	ss.s.log.Info(logline.Connected(lr, ""), "client", ss.src.String())
	ss.runRelay(out, rd.Buffered(), lr)
}

// bindV4: the first reply names the listener; the second comes only once
// the expected host connected. A peer from another address is refused with
// 91 and the listener closed, as 4.3 did; only the address is compared, not
// the port (spec §6).
func (ss *session) bindV4(expect netip.Addr, name string, port uint16, lr logline.Request, rd *socks.Reader) {
	ln, err := ss.listenBind(expect, name, true)
	if err != nil {
		ss.logFailure(lr, "bind", err)
		ss.replyV4(socks.V4Rejected, socks.Addr{})
		return
	}
	if !ss.replyV4(socks.V4Granted, v4Bound(unmapAP(ln.Addr()))) {
		return
	}
	peer, err := ss.acceptBind(ln)
	if err != nil {
		ss.logFailure(lr, "accept", err)
		ss.replyV4(socks.V4Rejected, socks.Addr{})
		return
	}
	pa := unmapAP(peer.RemoteAddr())
	if !ss.bindPeerAllowed(expect.Unmap(), pa, port, &lr) {
		ss.replyV4(socks.V4Rejected, socks.Addr{})
		return
	}
	ss.endPending() // from the grant on, the client's end of file is a half-close
	if !ss.replyV4(socks.V4Granted, v4Bound(pa)) {
		return
	}
	ss.s.log.Info(logline.Connected(lr, portString(pa.Port())), "client", ss.src.String())
	ss.runRelay(peer, rd.Buffered(), lr)
}

// v4Bound is a reply address: SOCKS4 carries IPv4 only, and 0.0.0.0 tells
// the client to use the address of the server it connected to.
func v4Bound(ap netip.AddrPort) socks.Addr {
	if !ap.Addr().Is4() {
		return socks.Addr{IP: netip.IPv4Unspecified(), Port: ap.Port()}
	}
	return socks.AddrFromAddrPort(ap)
}

// replyV4 sends a reply and reports whether it was written.
func (ss *session) replyV4(code socks.V4ReplyCode, bound socks.Addr) bool {
	var b [socks.V4ReplyLen]byte
	return ss.write(appendV4Reply(b[:0], code, bound))
}

// appendV4Reply appends a reply; a bound address SOCKS4 cannot carry is
// sent as 0.0.0.0.
func appendV4Reply(b []byte, code socks.V4ReplyCode, bound socks.Addr) []byte {
	if !bound.IP.IsValid() {
		bound = socks.Addr{IP: netip.IPv4Unspecified()}
	}
	out, err := socks.AppendV4Reply(b, socks.V4Reply{Code: code, Bound: bound})
	if err != nil {
		out, _ = socks.AppendV4Reply(b, socks.V4Reply{Code: code, Bound: socks.Addr{IP: netip.IPv4Unspecified()}})
	}
	return out
}
