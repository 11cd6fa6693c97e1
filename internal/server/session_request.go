package server

// The goroutine path's handshake after the first byte: SOCKS5's method
// negotiation, reading either version's request, and the one outline that
// serves a CONNECT or BIND of both (serveRequest).

import (
	"errors"
	"net"
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
	method := ss.s.chooseMethod(g)
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

// replyV5 sends a reply that only SOCKS5 has (a malformed request's, UDP
// ASSOCIATE's).
func (ss *session) replyV5(code socks.V5ReplyCode, bound socks.Addr) bool {
	var b [socks.MaxV5RequestLen]byte
	return ss.write(appendV5Reply(b[:0], code, bound))
}

// serveV4 reads a SOCKS4 or SOCKS4a request (spec §6) and serves it.
func (ss *session) serveV4(rd *socks.Reader) {
	req, err := rd.ReadV4Request()
	if err != nil {
		ss.badRequest(err)
		return
	}
	cmd := policy.CmdConnect
	if req.Command == socks.V4Bind {
		cmd = policy.CmdBind
	}
	ss.serveRequest(rd, request{cmd: cmd, dst: req.Dst, user: req.UserID})
}

// serveV5Request reads and serves the request, once the negotiated method
// (for user, "" under method none) has completed.
func (ss *session) serveV5Request(rd *socks.Reader, user string) {
	req, err := rd.ReadV5Request()
	if err != nil {
		ss.badRequest(err)
		return
	}
	r := request{cmd: policy.CmdConnect, dst: req.Dst, user: user}
	r.dst.IP = r.dst.IP.Unmap()
	switch req.Command {
	case socks.V5Bind:
		r.cmd = policy.CmdBind
	case socks.V5UDPAssociate:
		ss.client.SetDeadline(time.Time{}) // the association watches its control connection itself
		ss.udpAssociate(req, user)
		return
	}
	ss.serveRequest(rd, r)
}

// serveRequest serves a CONNECT or BIND of either version on the
// goroutine path, once its message was read: the decision, then the
// destination's connect or the BIND, then the relay. Every reply and log
// line comes from the pipeline (pipeline.go), in the client's version.
func (ss *session) serveRequest(rd *socks.Reader, r request) {
	ss.client.SetDeadline(time.Time{})
	ss.watchPending()
	defer ss.endPending()

	lr := ss.requestLog(r)
	if ss.obs.Version == socks.Version4 && !ss.s.socks4Allowed() {
		ss.s.log.Warn(logline.Refused(lr)+": SOCKS4 cannot authenticate and the allowed methods exclude none", "client", ss.src.String())
		ss.reply(generalFailure, socks.Addr{})
		return
	}
	dstIP, name, port := r.dst.IP, r.dst.Name, r.dst.Port
	d, resolveErr := ss.decideDestination(r.cmd, &dstIP, name, port, r.user, &lr)
	if !d.Permit {
		ss.reply(refusal(&d), socks.Addr{})
		return
	}
	if resolveErr != nil {
		ss.logFailure(lr, "resolve", resolveErr)
		ss.reply(failure(resolveErr), socks.Addr{})
		return
	}
	if r.cmd == policy.CmdBind {
		if !ss.bindUpstream(dstIP, name, r.user, lr, rd) {
			ss.bindWant = port
			ss.bind(dstIP, name, port, lr, rd)
		}
		return
	}
	if ss.proxyLoop(dstIP, port, lr) {
		ss.reply(notAllowed, socks.Addr{})
		return
	}
	out, err := ss.dialOut(dstIP, port, name, r.user, lr)
	if err != nil {
		ss.logFailure(lr, "connect", err)
		ss.reply(failure(err), socks.Addr{})
		return
	}
	ss.grant(out, socks.AddrFromAddrPort(unmapAP(out.LocalAddr())), "", lr, rd)
}

// grant sends the success reply naming bound, logs "connected" (peerPort:
// a BIND peer's) and relays with the destination or peer c.
func (ss *session) grant(c *net.TCPConn, bound socks.Addr, peerPort string, lr logline.Request, rd *socks.Reader) {
	ss.endPending() // from the grant on, the client's end of file is a half-close
	if !ss.reply(granted, bound) {
		return
	}
	ss.logConnected(lr, peerPort)
	ss.runRelay(c, rd.Buffered(), lr)
}

// bind is BIND's two replies (4.3's and RFC 1928's alike): the listener's
// address, then the peer's once it connected. The peer must come from the
// requested address (only the address is compared, not the port, as 4.3
// did), or, if that is unspecified, be one the rules permit
// (bindPeerAllowed). SOCKS4 listens on IPv4, the only family its reply
// can name.
func (ss *session) bind(expect netip.Addr, name string, port uint16, lr logline.Request, rd *socks.Reader) {
	ln, err := ss.listenBind(expect, name, ss.obs.Version == socks.Version4)
	if err != nil {
		ss.logFailure(lr, "bind", err)
		ss.reply(generalFailure, socks.Addr{})
		return
	}
	if !ss.reply(granted, socks.AddrFromAddrPort(unmapAP(ln.Addr()))) {
		return
	}
	peer, err := ss.acceptBind(ln)
	if err != nil {
		ss.logFailure(lr, "accept", err)
		ss.reply(acceptFailure(err), socks.Addr{})
		return
	}
	pa := unmapAP(peer.RemoteAddr())
	if !ss.bindPeerAllowed(expect, pa, port, &lr) {
		ss.reply(notAllowed, socks.Addr{})
		return
	}
	ss.grant(peer, socks.AddrFromAddrPort(pa), portString(pa.Port()), lr, rd)
}

// badRequest logs and answers a request that could not be read: an
// undefined command (which 4.3 closed without a reply to SOCKS4), an
// address type or another field the codec refused; a client that went
// away or went silent gets no reply.
func (ss *session) badRequest(err error) {
	var fe *socks.FieldError
	switch {
	case errors.Is(err, socks.ErrCommand) && errors.As(err, &fe):
		ss.s.log.Warn(logline.UndefinedCommand(byte(fe.Value), ss.srcName()), "client", ss.src.String())
		if ss.obs.Version == socks.Version5 {
			ss.reply(answer{v5: socks.V5CommandNotSupported}, socks.Addr{})
		}
	case errors.Is(err, socks.ErrAddrType):
		ss.s.log.Warn(logline.BadRequest(err, ss.srcName()), "client", ss.src.String())
		ss.reply(answer{socks.V4Rejected, socks.V5AddressTypeNotSupported}, socks.Addr{})
	case errors.As(err, &fe):
		ss.s.log.Warn(logline.BadRequest(err, ss.srcName()), "client", ss.src.String())
		ss.reply(generalFailure, socks.Addr{})
	default:
		ss.handshakeFailed(err)
	}
}

// reply sends an answer in the client's version and reports whether it
// was written.
func (ss *session) reply(a answer, bound socks.Addr) bool {
	var b [socks.MaxV5RequestLen]byte
	return ss.write(appendAnswer(b[:0], ss.obs.Version, a, bound))
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
