// Package server is the sockd daemon: listeners, SOCKS4/4a/5 sessions on
// one port, the access decision (policy.Decide) for every request, identd,
// connecting (with the route file), starting the relay (internal/relay
// moves the bytes), UDP ASSOCIATE, limits and timeouts, and reload.
//
// Around the sessions, other packages hold the daemon's other jobs:
// acceptgate screens a connection before its first byte (the descriptor
// budget, hosts.allow/deny), rulecmd runs the rules' shell commands,
// opsweb serves /metrics and /healthz, signals is the daemon process's
// one signal loop, and daemon runs the server as a process.
//
// The configuration in force is an immutable snapshot (rules, routes,
// passwords) behind an atomic pointer: a reload builds a complete new one
// beside it and swaps only when every file loaded, so a bad edit never
// leaves the daemon half-configured; running sessions keep the snapshot
// they started with.
//
// Two engines serve sessions: the event loops (loop_linux.go,
// loopsession_linux.go) take the common CONNECT, goroutines
// (session.go, session_request.go) everything else. How a request is
// answered is written once for both, in pipeline.go: the SOCKS5 method,
// the request's log fields, the refusal, failure and success replies, the
// "connected" line, the connect's specification; the accept policy
// (screenAccepted, acceptBackoff) is shared the same way. A change to
// what a client is told is made there.
//
// Where this daemon deliberately differs from 4.3 sockd:
//   - a refused request always gets a reply (91/92/93, or SOCKS5 0x02)
//     before the close; 4.2 closed silently on a plain deny, which clients
//     report as a protocol error;
//   - a destination no sockd.route line matches is reached through the
//     system's choice of interface; 4.2 logged and exited;
//   - the client is logged by address (4.3 printed its reverse name): a
//     reverse lookup per connection would slow every session down, and
//     name patterns in the rules still get forward-confirmed names lazily.
package server
