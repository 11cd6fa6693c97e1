// Package server is the sockd daemon's sessions: listeners, SOCKS4/4a/5
// on one port, the access decision (policy.Decide) for every request,
// identd, connecting (internal/route picks the source address), starting
// the relay, UDP ASSOCIATE's request, limits and timeouts, and reload. It
// is the one package that knows a session from start to end; every job a
// session only uses lives in a package of its own.
//
// Where to look, by what went wrong:
//
//   - "curl gets a malformed reply": the bytes of every message are
//     package socks; which answer a request gets (refusal, failure,
//     success, the bound address) is chosen once for both engines in
//     pipeline.go (refusal, failure, appendAnswer), and a socket error
//     becomes a SOCKS5 code in socks.V5ReplyFor.
//   - "why was this refused": policy.Decide, the one decision function
//     (`sockd simulate`, internal/simulate, runs it with a tracer); the
//     session asks it in session.go (decide, decided), which also writes
//     the refused line through internal/logline. Refused before the
//     first byte: internal/acceptgate. Refused by an upstream route:
//     internal/clientconf and package client. A proxy loop: ownaddrs.go.
//   - "the bytes stopped": internal/relay (splice, half-close, the idle
//     timeout; relay.Pump is the event loops' step), the event loops'
//     deadlines in internal/reactor's heap (loopConn.Expire), UDP in
//     internal/udprelay; the "terminated" line with both byte counts is
//     written in session_dial.go (logRelayEnd) and udp.go.
//   - "the worker died" (--workers): internal/supervisor restarts it with
//     back-off and logs the exit; the worker's side is internal/daemon,
//     its signal loop internal/signals.
//   - a number on /metrics: internal/metrics (the series), internal/opsweb
//     (the endpoint).
//
// Around the sessions, other packages hold the daemon's other jobs:
// acceptgate screens a connection before its first byte (the descriptor
// budget, hosts.allow/deny, the accept back-off), rulecmd runs the rules'
// shell commands, resolve looks names up (IPv4 first, forward-confirmed
// reverse names), effective words the configuration in force (-t, -T,
// SIGUSR1), shadow decides live requests under candidate rules, opsweb
// serves /metrics and /healthz, signals is the daemon process's one
// signal loop, and daemon runs the server as a process.
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
// (screenAccepted, acceptgate.Backoff) is shared the same way. A change
// to what a client is told is made there.
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
