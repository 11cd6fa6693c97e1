package server

import (
	"errors"

	"github.com/sockd/sockd/internal/logline"
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
