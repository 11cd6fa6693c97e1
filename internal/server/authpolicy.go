package server

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sockd/sockd/internal/auth"

	"github.com/sockd/sockd/socks"
)

// socks4Allowed reports whether SOCKS4 requests may be served. SOCKS4 has
// no authentication, only a claimed USERID: when the SOCKS5 methods
// exclude "none" (a password is required), serving SOCKS4 on the same port
// would let any client around the password, and a claimed USERID match
// the *=user lists meant for authenticated users.
func (s *Server) socks4Allowed() bool {
	return slices.Contains(s.opts.Methods, socks.MethodNoAuth)
}

// passwordGuard is the server's bound on password checks, made at the
// first one.
func (s *Server) passwordGuard() *auth.Guard {
	if g := s.pwGuard.Load(); g != nil {
		return g
	}
	s.pwGuard.CompareAndSwap(nil, auth.NewGuard(0, 0, 0))
	return s.pwGuard.Load()
}

// checkPassword checks a client's RFC 1929 user name and password, within
// the guard's bounds: a check waits for a free slot no longer than the
// handshake's deadline, and a source that failed too often is refused
// without one, in a single log line per window rather than one per try.
func (ss *session) checkPassword(user, password string) bool {
	ctx, cancel := context.WithDeadline(ss.s.kill, ss.handshakeDeadline())
	defer cancel()
	var c auth.Checker
	switch {
	case ss.s.opts.SystemPasswords != nil:
		c = auth.CheckerFunc(func(user, password string) bool { return ss.s.opts.SystemPasswords(ctx, user, password) })
	case ss.snap.passwords != nil:
		c = ss.snap.passwords
	default:
		return false
	}
	v := ss.s.passwordGuard().Verify(ctx, c, ss.src.Addr(), user, password)
	switch v.Outcome {
	case auth.Accepted:
		return true
	case auth.Rejected:
		ss.s.log.Warn("refused -- authentication failed for user "+user+" from host "+ss.srcName(),
			"client", ss.src.String(), "user", user)
	case auth.Blocked:
		if v.LogBlock {
			ss.s.log.Warn(fmt.Sprintf("refused -- %d failed logins from host %s: its logins are refused until %s",
				v.Failures, ss.srcName(), v.Until.UTC().Format(time.RFC3339)),
				"client", ss.src.String(), "user", user, "failures", v.Failures)
		}
	case auth.Busy:
		ss.s.log.Warn("refused -- no password check free before the handshake deadline for user "+user+" from host "+ss.srcName(),
			"client", ss.src.String(), "user", user)
	}
	return false
}
