package relay

import "golang.org/x/sys/unix"

// Outcome is what one Pump came to: what the caller does next.
type Outcome uint8

const (
	// Drained: src has nothing more for now; wait for it to be readable.
	Drained Outcome = iota
	// EndOfFile: src ended, right behind the bytes sent (which went with
	// MSG_MORE, so that the caller's half-close or close pushes data and
	// FIN out as one segment).
	EndOfFile
	// Blocked: dst could not take the whole message; Rest holds what it
	// did not take, for a relay that can wait on dst.
	Blocked
	// Bulk: a read filled the buffer, so bulk data follows, which belongs
	// on splice (StartFrom).
	Bulk
	// Failed: Op ("read" on src, "write" on dst) failed with Err.
	Failed
)

// Step is the result of one Pump.
type Step struct {
	Outcome Outcome
	Sent    int    // bytes written to dst
	Rest    []byte // with Blocked: the part of the message dst did not take; it aliases the buffer
	Op      string // with Failed: "read" or "write"
	Err     error  // with Failed: the system call's error
}

// Pump moves one message from the non-blocking socket src to dst, as a
// relay direction's small read does (readSmall), for the server's event
// loop, which cannot block: one read into buf and one write, with a
// second read (ReadAhead) to catch an end of file right behind the data.
// buf is SmallReadLen long for the event loop, so that the two agree on
// what is bulk. An error of the second read is reported after the data
// has gone, since a socket reports its error only once.
func Pump(src, dst int, buf []byte) Step {
	n, err := unix.Read(src, buf)
	for err == unix.EINTR {
		n, err = unix.Read(src, buf)
	}
	switch {
	case err == unix.EAGAIN:
		return Step{Outcome: Drained}
	case err != nil:
		return Step{Outcome: Failed, Op: "read", Err: err}
	case n == 0:
		return Step{Outcome: EndOfFile}
	}
	eof := false
	var aheadErr error
	if n < len(buf) {
		n, eof, aheadErr = ReadAhead(src, buf, n)
	}
	flags := unix.MSG_NOSIGNAL
	if eof {
		flags |= unix.MSG_MORE
	}
	w, err := Send(dst, buf[:n], flags)
	if err == unix.EAGAIN {
		w, err = 0, nil
	}
	if err != nil {
		return Step{Outcome: Failed, Op: "write", Err: err}
	}
	st := Step{Sent: w}
	switch {
	case w < n:
		st.Outcome, st.Rest = Blocked, buf[w:n]
	case aheadErr != nil:
		st.Outcome, st.Op, st.Err = Failed, "read", aheadErr
	case eof:
		st.Outcome = EndOfFile
	case n == len(buf):
		st.Outcome = Bulk
	}
	return st
}
