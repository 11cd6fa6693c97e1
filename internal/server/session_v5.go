package server

import (
	"errors"
	"net/netip"
	"time"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// serveV5 handles a SOCKS5 session (RFC 1928): method negotiation, the
// negotiated method's sub-negotiation, then one request. No request is
// read before the chosen method has completed.
func (ss *session) serveV5(rd *socks.Reader) {
	g, err := rd.ReadV5Greeting()
	if err != nil {
		ss.badV5Message(err)
		return
	}
	method := socks.MethodNoAcceptable
	for _, m := range ss.s.opts.Methods {
		if g.Offers(m) {
			method = m
			break
		}
	}
	if !ss.write(socks.AppendV5MethodChoice(nil, method)) {
		return
	}
	if method == socks.MethodNoAcceptable {
		ss.s.log.Info("refused -- no acceptable authentication method from host "+ss.srcName(), "client", ss.src.String())
		return
	}
	user := ""
	if method == socks.MethodUserPass {
		up, err := rd.ReadUserPass()
		if err != nil {
			ss.badV5Message(err)
			return
		}
		ok := ss.checkPassword(up.Username, up.Password) // logs a refusal
		status := socks.UserPassSuccess
		if !ok {
			status = socks.UserPassFailure
		}
		if !ss.write(socks.AppendUserPassReply(nil, status)) || !ok {
			return
		}
		user = up.Username
	}
	ss.serveV5Request(rd, user)
}

// serveV5Request reads and serves the request, once the negotiated method
// (for user, "" under method none) has completed.
func (ss *session) serveV5Request(rd *socks.Reader, user string) {
	req, err := rd.ReadV5Request()
	if err != nil {
		var fe *socks.FieldError
		switch {
		case errors.Is(err, socks.ErrCommand) && errors.As(err, &fe):
			ss.s.log.Warn(logline.UndefinedCommand(byte(fe.Value), ss.srcName()), "client", ss.src.String())
			ss.replyV5(socks.V5CommandNotSupported, socks.Addr{})
		case errors.Is(err, socks.ErrAddrType):
			ss.s.log.Warn(logline.BadRequest(err, ss.srcName()), "client", ss.src.String())
			ss.replyV5(socks.V5AddressTypeNotSupported, socks.Addr{})
		case errors.As(err, &fe):
			ss.s.log.Warn(logline.BadRequest(err, ss.srcName()), "client", ss.src.String())
			ss.replyV5(socks.V5GeneralFailure, socks.Addr{})
		default:
			ss.handshakeFailed(err)
		}
		return
	}
	ss.client.SetDeadline(time.Time{})
	if req.Command != socks.V5UDPAssociate {
		ss.watchPending() // the association watches its control connection itself
		defer ss.endPending()
	}

	dstIP, name := req.Dst.IP.Unmap(), req.Dst.Name
	lr := logline.Request{Command: "Connect", User: user, Src: ss.srcName(), Service: ss.service(req.Dst.Port)}
	cmd := policy.CmdConnect
	switch req.Command {
	case socks.V5Bind:
		lr.Command, cmd = "Bind", policy.CmdBind
	case socks.V5UDPAssociate:
		ss.udpAssociate(req, user)
		return
	}
	switch {
	case name != "":
		lr.Dst = name
	case !dstIP.IsUnspecified():
		lr.Dst = dstIP.String()
	}
	d, resolveErr := ss.decideDestination(cmd, &dstIP, name, req.Dst.Port, user, &lr)
	if !d.Permit {
		ss.replyV5(socks.V5ReplyCode(d.Reply5), socks.Addr{})
		return
	}
	if resolveErr != nil {
		ss.logFailure(lr, "resolve", resolveErr)
		ss.replyV5(socks.V5ReplyFor(resolveErr), socks.Addr{})
		return
	}
	if req.Command == socks.V5Bind {
		if !ss.bindUpstream(false, dstIP, name, user, lr, rd) {
			ss.bindWant = req.Dst.Port
			ss.bindV5(dstIP, name, req.Dst.Port, lr, rd)
		}
		return
	}
	if ss.proxyLoop(dstIP, req.Dst.Port, lr) {
		ss.replyV5(socks.V5NotAllowed, socks.Addr{})
		return
	}
	out, err := ss.dialOut(dstIP, req.Dst.Port, name, user, lr)
	if err != nil {
		ss.logFailure(lr, "connect", err)
		ss.replyV5(upstreamFailure(err), socks.Addr{})
		return
	}
	ss.endPending() // from the grant on, the client's end of file is a half-close
	if !ss.replyV5(socks.V5Succeeded, socks.AddrFromAddrPort(unmapAP(out.LocalAddr()))) {
		return
	}
	ss.s.log.Info(logline.Connected(lr, ""), "client", ss.src.String())
	ss.runRelay(out, rd.Buffered(), lr)
}

// bindV5 is BIND with RFC 1928's two replies: the listener's address, then
// the peer's once it connected. The peer must come from the requested
// address, or, if that is unspecified, be one the rules permit
// (bindPeerAllowed).
func (ss *session) bindV5(expect netip.Addr, name string, port uint16, lr logline.Request, rd *socks.Reader) {
	ln, err := ss.listenBind(expect, name, false)
	if err != nil {
		ss.logFailure(lr, "bind", err)
		ss.replyV5(socks.V5GeneralFailure, socks.Addr{})
		return
	}
	if !ss.replyV5(socks.V5Succeeded, socks.AddrFromAddrPort(unmapAP(ln.Addr()))) {
		return
	}
	peer, err := ss.acceptBind(ln)
	if err != nil {
		ss.logFailure(lr, "accept", err)
		code := socks.V5GeneralFailure
		if socks.IsTimeout(err) {
			code = socks.V5TTLExpired
		}
		ss.replyV5(code, socks.Addr{})
		return
	}
	pa := unmapAP(peer.RemoteAddr())
	if !ss.bindPeerAllowed(expect, pa, port, &lr) {
		ss.replyV5(socks.V5NotAllowed, socks.Addr{})
		return
	}
	ss.endPending() // from the grant on, the client's end of file is a half-close
	if !ss.replyV5(socks.V5Succeeded, socks.AddrFromAddrPort(pa)) {
		return
	}
	ss.s.log.Info(logline.Connected(lr, portString(pa.Port())), "client", ss.src.String())
	ss.runRelay(peer, rd.Buffered(), lr)
}

// badV5Message logs a malformed greeting or sub-negotiation; there is no
// reply that could say what was wrong, so the connection is just closed.
func (ss *session) badV5Message(err error) {
	var fe *socks.FieldError
	if errors.As(err, &fe) {
		ss.s.log.Warn(logline.BadRequest(err, ss.srcName()), "client", ss.src.String())
		return
	}
	ss.handshakeFailed(err)
}

func (ss *session) replyV5(code socks.V5ReplyCode, bound socks.Addr) bool {
	var b [socks.MaxV5RequestLen]byte
	return ss.write(appendV5Reply(b[:0], code, bound))
}

// appendV5Reply appends a reply; a bound address it cannot encode is left
// out (zero).
func appendV5Reply(b []byte, code socks.V5ReplyCode, bound socks.Addr) []byte {
	out, err := socks.AppendV5Reply(b, socks.V5Reply{Code: code, Bound: bound})
	if err != nil {
		out, _ = socks.AppendV5Reply(b, socks.V5Reply{Code: code})
	}
	return out
}

// write sends a handshake message (a reply, a method choice) and reports
// whether it was written. It sets no deadline: a session writes a few
// hundred bytes at most before the relay, far less than any socket's send
// buffer (4 KB at the least), so the write never waits for the client,
// however slowly it reads; arming and clearing a timer around it was
// four timer operations per connection for nothing.
func (ss *session) write(b []byte) bool {
	_, err := ss.client.Write(b)
	return err == nil
}
