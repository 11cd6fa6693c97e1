// Package acceptgate screens connections at accept, before the SOCKS
// server reads or writes a byte of them: the descriptor budget (Listener:
// a worker near its open file limit stops accepting and leaves the
// connections to the other workers that share its socket) and the host
// access check (Check: tcp_wrappers' hosts.allow and hosts.deny, in
// internal/hostsaccess, decide a client from its addresses alone), and
// paces an accept loop after an accept error (Backoff, which both of the
// server's accept loops use).
//
// It does not count sessions or apply --max-clients: the server
// (internal/server) does, in the one call both of its engines make for
// each accepted connection, and that call asks Check here. What a session
// does once accepted is the server's too.
package acceptgate
