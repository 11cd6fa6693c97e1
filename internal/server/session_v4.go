package server

import (
	"errors"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// serveV4 reads a SOCKS4 or SOCKS4a request (spec §6) and serves it.
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
			ss.reply(generalFailure, socks.Addr{})
		default:
			ss.handshakeFailed(err)
		}
		return
	}
	cmd := policy.CmdConnect
	if req.Command == socks.V4Bind {
		cmd = policy.CmdBind
	}
	ss.serveRequest(rd, request{cmd: cmd, dst: req.Dst, user: req.UserID})
}
