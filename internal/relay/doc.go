// Package relay moves the bytes of a granted TCP session: once the server
// has answered a CONNECT (or a BIND peer has arrived), Start or StartFrom
// copies between the client and the destination until both directions
// have ended, and reports a Result (the bytes each way, whether the idle
// timeout ended it, the first real error).
//
// What it does, per direction, on a goroutine of its own:
//
//   - Small messages (a request, a reply, a keystroke) are read once into
//     a pooled buffer of SmallReadLen bytes and written on: one read and
//     one write, cheaper than a splice through a pipe. A second read
//     (ReadAhead) catches an end of file right behind the data, so a last
//     reply and its FIN leave as one segment (MSG_MORE).
//   - A read that fills the buffer means bulk data, which then moves by
//     splice(2), zero-copy, through a pipe opened for a bounded window and
//     closed after it; within the window one goroutine fills the pipe while
//     the direction drains it (splice_linux.go). Elsewhere than Linux,
//     io.Copy does the bulk.
//   - An end of file is passed on as a half-close (CloseWrite), and the
//     other direction keeps going.
//   - Idle timeout: the source's read deadline is set once and moved only
//     when it passes with traffic seen in either direction since.
//   - Abort: the first failure, or the idle timeout, closes both
//     connections, which wakes the other direction; the error that
//     direction then sees (a use of a closed connection) is the abort's
//     echo, not a failure of its own, and is not reported.
//
// A waiting direction holds no buffer and no pipe, only its goroutine,
// whose stack stays small: Relays keeps relay directions and sessions on
// separate goroutine pools (goroutines.go), and the work at a relay's end
// belongs on Go. Relays also counts the bytes that went through user space
// (Copied), which the tests use to prove that bulk data stays on splice.
//
// What it does not do: accept, read handshakes, decide, dial, log or count
// metrics; that is internal/server, which starts a relay in relayFrom and
// writes the "terminated" line and byte metrics from its Result
// (session_dial.go, metrics.go). The event-loop engine, which cannot
// block, moves small messages with Pump (pump_linux.go: the same read,
// read-ahead and send on non-blocking descriptors) and hands a session
// here with StartFrom when Pump reports bulk data or a destination that
// cannot take a whole message. UDP
// ASSOCIATE's datagrams are relayed by internal/server (udp.go). Neither
// connection is closed by the relay except to abort; its owner closes
// both after done.
//
// Where to look when "the bytes stopped":
//
//   - Nothing at all arrives after "connected": the server's event loop
//     (internal/server/loopconnect_linux.go: connected, pump, handOffRelay;
//     Pump here)
//     or the session's relayFrom (internal/server/session_dial.go), which
//     write the bytes read with the request before the relay starts.
//   - Small messages go, a large transfer stalls or is cut short:
//     spliceBulk, bulkPipe.fill and drain (splice_linux.go).
//   - One side's end of file never reaches the other: copyDirection and
//     endOfFile (relay.go).
//   - A connection is cut while data flows, or an idle one is never cut:
//     copyDirection's idle deadline (armed) and Result.Idle.
//   - The session ended with an error, or should have: abort and
//     isAbortEcho (relay.go); the "terminated" log line carries Result.Err.
package relay
