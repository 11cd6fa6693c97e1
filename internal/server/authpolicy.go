package server

import (
	"slices"

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
