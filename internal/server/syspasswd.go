package server

import "github.com/sockd/sockd/internal/auth"

// checkPassword checks a SOCKS5 user name and password: against the
// host's accounts when Options.SystemPasswords is set, else against the
// password file (pw, nil without one).
func (s *Server) checkPassword(pw *auth.Passwords, user, password string) bool {
	if s.opts.SystemPasswords != nil {
		return s.opts.SystemPasswords(s.kill, user, password)
	}
	return pw != nil && pw.Verify(user, password)
}
