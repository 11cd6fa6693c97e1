package server

// The accept check (Options.AcceptCheck, e.g. tcp_wrappers' hosts.allow
// and hosts.deny) decides a connection from its addresses alone, before
// the server reads or writes any byte of it: a refused client gets no
// SOCKS reply at all, only a closed connection, as with libwrap. Both
// engines screen what they accept with screenAccepted: Serve's goroutine
// loop (server.go) and the event loops (loop_linux.go).

import (
	"net"
	"net/netip"
)

// refusedAtAccept runs the check and logs a refusal; it is only called
// when Options.AcceptCheck is set.
func (s *Server) refusedAtAccept(client, local net.Addr) bool {
	return s.refusedAt(unmapAP(client), unmapAP(local))
}

func (s *Server) refusedAt(client, local netip.AddrPort) bool {
	ok, why := s.opts.AcceptCheck(client, local)
	if ok {
		return false
	}
	s.log.Warn("refused -- connect from "+client.Addr().String()+" by host access rules",
		"client", client.String(), "server", local.String(), "reason", why)
	return true
}

// acceptVerdict is what becomes of an accepted connection.
type acceptVerdict uint8

const (
	acceptServe acceptVerdict = iota // counted in (admit): serve it
	acceptClose                      // refused by the host access rules: close it
	// acceptReset: over MaxClients, and logged. The caller resets the
	// connection (SO_LINGER 0): queueing would only make every client
	// slow, and refusing at once lets clients retry elsewhere.
	acceptReset
)

// screenAccepted is the accept policy of both engines: the host access
// rules, then MaxClients. local, the address the client reached, is asked
// only when there is an accept check.
func (s *Server) screenAccepted(src netip.AddrPort, local func() netip.AddrPort) acceptVerdict {
	if s.opts.AcceptCheck != nil && s.refusedAt(src, local()) {
		return acceptClose
	}
	if !s.admit() {
		s.logOverLimit(src.String())
		return acceptReset
	}
	return acceptServe
}
