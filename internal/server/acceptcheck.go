package server

// The accept check (Options.AcceptCheck, e.g. tcp_wrappers' hosts.allow
// and hosts.deny; package acceptgate) decides a connection from its
// addresses alone, before the server reads or writes any byte of it. Both
// engines screen what they accept with screenAccepted: Serve's goroutine
// loop (server.go) and the event loops (loop_linux.go).

import (
	"net"
	"net/netip"
)

// refusedAtAccept runs the check and logs a refusal; it is only called
// when Options.AcceptCheck is set.
func (s *Server) refusedAtAccept(client, local net.Addr) bool {
	return s.opts.AcceptCheck.Refuses(s.log, unmapAP(client), unmapAP(local))
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
	if s.opts.AcceptCheck != nil && s.opts.AcceptCheck.Refuses(s.log, src, local()) {
		return acceptClose
	}
	if !s.admit() {
		s.logOverLimit(src.String())
		return acceptReset
	}
	return acceptServe
}
