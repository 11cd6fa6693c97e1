package relay

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxSpliceHold bounds how long one bulk window may hold its splice pipe
// (two file descriptors), even while the source is silent; ending each
// window after a bounded time and then waiting for data without a pipe
// keeps an idle relayed connection at two descriptors instead of six.
const maxSpliceHold = 250 * time.Millisecond

// Result is what a finished relay reports.
type Result struct {
	FromClient, FromDst int64 // bytes relayed in each direction
	Idle                bool  // ended by the idle timeout
	Err                 error // the first error other than an orderly end, nil otherwise
}

// Start starts relaying between client and dst in two goroutines, one
// per direction, and returns at once. It ends when both directions have
// reached end of file, one side fails, or nothing moved in either
// direction for idle (0 = no limit); done is then called once, by the
// direction that finishes last, on that direction's goroutine: deep work
// (a log line) belongs on Go. A direction moves small messages with one
// read and one write, and bulk data with splice(2) through a pipe of its
// own, reading the source while it writes the destination (spliceBulk),
// so bulk data never passes through user space. When one side ends its
// output, the other side's output is shut down (half-close), and the
// opposite direction keeps going. The caller's goroutine is free to end,
// so an idle connection costs only the two small stacks of its
// directions. Start closes neither connection.
func (rs *Relays) Start(client, dst *net.TCPConn, idle time.Duration, done func(Result)) {
	rs.StartFrom(client, dst, idle, false, false, done)
}

// StartFrom is Start for a relay begun elsewhere (the server's event
// loop relays small messages itself until bulk data comes): upEnded or
// downEnded says that direction has already passed its end of file on, so
// only the other one runs.
func (rs *Relays) StartFrom(client, dst *net.TCPConn, idle time.Duration, upEnded, downEnded bool, done func(Result)) {
	r := &relaySession{rs: rs, client: client, dst: dst, idle: idle}
	r.touch()
	r.pending.Store(2)
	if upEnded {
		r.pending.Add(-1)
	}
	if downEnded {
		r.pending.Add(-1)
	}
	if !upEnded {
		rs.directions.Go(func() {
			r.upN, r.upErr = r.copyDirection(dst, client)
			r.directionDone(done)
		})
	}
	if !downEnded {
		rs.directions.Go(func() {
			r.downN, r.downErr = r.copyDirection(client, dst)
			r.directionDone(done)
		})
	}
}

// directionDone reports the result once both directions have ended; the
// atomic counter orders the other direction's writes before the reads.
func (r *relaySession) directionDone(done func(Result)) {
	if r.pending.Add(-1) != 0 {
		return
	}
	res := Result{FromClient: r.upN, FromDst: r.downN, Idle: r.idleHit.Load()}
	if r.upErr != nil && !r.isAbortEcho(r.upErr) {
		res.Err = r.upErr
	} else if r.downErr != nil && !r.isAbortEcho(r.downErr) {
		res.Err = r.downErr
	}
	if res.Idle {
		res.Err = nil
	}
	done(res)
}

type relaySession struct {
	rs          *Relays
	client, dst *net.TCPConn
	idle        time.Duration
	lastActive  atomic.Int64 // unix nanoseconds of the latest observed traffic
	aborted     atomic.Bool
	abortCause  atomic.Pointer[error]
	idleHit     atomic.Bool

	pending        atomic.Int32 // directions still running
	upN, downN     int64
	upErr, downErr error
}

func (r *relaySession) touch() { r.lastActive.Store(time.Now().UnixNano()) }

// abort ends both directions: the first failure (or the idle timeout) of
// either direction ends the whole session. Closing is how a goroutine
// blocked in splice is woken; the connections' owner closes them again,
// harmlessly.
func (r *relaySession) abort(cause error) {
	if r.aborted.CompareAndSwap(false, true) {
		r.abortCause.Store(&cause)
		r.client.Close()
		r.dst.Close()
	}
}

// isAbortEcho says whether err is only the other direction's abort seen
// from this side (a use of the closed connection), not a failure of its own.
func (r *relaySession) isAbortEcho(err error) bool {
	if !r.aborted.Load() {
		return false
	}
	if c := r.abortCause.Load(); c != nil && *c == err {
		return false
	}
	return errors.Is(err, net.ErrClosed)
}

func (r *relaySession) copyDirection(dst, src *net.TCPConn) (total int64, err error) {
	raw, err := src.SyscallConn()
	if err != nil {
		r.abort(err)
		return 0, err
	}
	hold := maxSpliceHold
	if r.idle > 0 && r.idle/2 < hold {
		hold = r.idle / 2
	}
	// armed: src's read deadline is the idle one. It is set once and
	// left alone while data flows, which makes it early, never late: when
	// it passes, the latest traffic is checked and the deadline set anew
	// from it. Setting it before every read cost a timer operation per
	// message.
	armed := false
	for {
		// Wait for data (or end of file) without a pipe or a buffer,
		// bounded by the idle deadline; traffic in the other direction
		// moves the deadline, so the check repeats until both sides are
		// quiet.
		if !armed {
			if r.idle > 0 {
				err = src.SetReadDeadline(time.Unix(0, r.lastActive.Load()).Add(r.idle))
			} else {
				err = src.SetReadDeadline(time.Time{})
			}
			armed = err == nil
		}
		var n int
		var full, eof bool
		if err == nil {
			n, full, eof, err = r.rs.readSmall(raw, dst)
		}
		total += int64(n)
		if err != nil {
			if r.aborted.Load() {
				return total, err
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if time.Since(time.Unix(0, r.lastActive.Load())) >= r.idle {
					r.idleHit.Store(true)
					r.abort(err)
					return total, nil
				}
				armed = false
				continue
			}
			r.abort(err)
			return total, err
		}
		r.touch()
		if n == 0 || eof {
			return total, r.endOfFile(dst)
		}
		if !full {
			// A small message (a request, a reply, a keystroke) went
			// across in one read and one write: cheaper than two
			// splices through a pipe, and no pipe is taken.
			continue
		}
		// More may be queued: move the bulk with splice(2), on a pipe
		// held for at most the hold window (src's read deadline).
		armed = false
		if err := src.SetReadDeadline(time.Now().Add(hold)); err != nil {
			r.abort(err)
			return total, err
		}
		n64, err := r.rs.spliceBulk(dst, src)
		total += n64
		if n64 > 0 {
			r.touch()
		}
		switch {
		case err == nil:
			return total, r.endOfFile(dst)
		case r.aborted.Load():
			return total, err
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The hold window ended and its pipe is closed: wait for
			// more data without one.
			continue
		default:
			r.abort(err)
			return total, err
		}
	}
}

// endOfFile passes a half-close on and lets the other direction finish.
// When the other direction has already finished, the owner is about to
// close both connections, which sends the end of file anyway: the
// shutdown would be a wasted system call on every connection's end.
func (r *relaySession) endOfFile(dst *net.TCPConn) error {
	if r.pending.Load() == 1 {
		return nil
	}
	if cerr := dst.CloseWrite(); cerr != nil && !r.aborted.Load() && !isNotConnected(cerr) {
		r.abort(cerr)
		return cerr
	}
	return nil
}

// SmallReadLen is the largest message moved by read and write instead of
// splice; a read that fills it means bulk data, which goes on splice. The
// server's event loop reads into a buffer of this size, so that the two
// agree on what is bulk.
const SmallReadLen = 16 << 10

// smallBufs lend a buffer for the instant between a successful read and
// its write: an idle direction holds none.
var smallBufs = sync.Pool{New: func() any { b := make([]byte, SmallReadLen); return &b }}

// readSmall blocks (through the runtime's poller, honouring the read
// deadline) until src has data, end of file or an error; it reads what is
// there, up to SmallReadLen, and writes it to dst. It returns the bytes
// moved (0 at end of file), whether the read filled the buffer, and
// whether src's end of file came right behind the data. The buffer is
// taken only once the socket is readable, so a waiting direction costs no
// buffer.
//
// A read that leaves room in the buffer is followed by a second one, which
// the socket answers at once: more data, nothing yet, or end of file. A
// last reply with its end of file behind it (an HTTP/1.0 response, a
// server's goodbye) then leaves as one segment carrying the data and the
// FIN: the data is sent with MSG_MORE and the caller's half-close pushes
// both out together, so the client reads the reply and the end of file in
// one wake-up instead of two. While the other direction still runs, the
// caller shuts dst's output down at once; otherwise its owner closes dst,
// which pushes the data out too.
func (rs *Relays) readSmall(raw syscall.RawConn, dst *net.TCPConn) (n int, full, eof bool, err error) {
	var buf *[]byte
	var readErr, aheadErr error
	err = raw.Read(func(fd uintptr) bool {
		b := smallBufs.Get().(*[]byte)
		m, e := unix.Read(int(fd), *b)
		if e == unix.EAGAIN || e == unix.EINTR {
			smallBufs.Put(b)
			return false
		}
		buf, n, readErr = b, m, e
		if e == nil && m > 0 && m < len(*b) {
			n, eof, aheadErr = ReadAhead(int(fd), *b, m)
		}
		return true
	})
	if buf == nil {
		return 0, false, false, err
	}
	defer smallBufs.Put(buf)
	if err == nil && readErr != nil {
		err = os.NewSyscallError("read", readErr)
	}
	if err != nil || n <= 0 {
		return 0, false, false, err
	}
	var w int
	if eof {
		w, err = sendMore(dst, (*buf)[:n])
	} else {
		w, err = dst.Write((*buf)[:n])
	}
	rs.copied.Add(int64(w))
	if err == nil && aheadErr != nil {
		err = os.NewSyscallError("read", aheadErr)
	}
	return w, n == len(*buf), eof, err
}

// ReadAhead follows a read of n bytes that left room in buf with a second
// one on the non-blocking descriptor fd, which the socket answers at once:
// more data (the new total is returned), nothing yet, or end of file right
// behind the data. An error is returned for the caller to report after the
// data has gone: a socket reports its error only once. readSmall and the
// server's event loop both use it.
func ReadAhead(fd int, buf []byte, n int) (total int, eof bool, err error) {
	switch k, e := unix.Read(fd, buf[n:]); {
	case e == unix.EAGAIN || e == unix.EINTR:
		return n, false, nil
	case e != nil:
		return n, false, e
	case k == 0:
		return n, true, nil
	default:
		return n + k, false, nil
	}
}

// isNotConnected: shutting down the output of a connection whose peer has
// already gone is not a relay failure.
func isNotConnected(err error) bool {
	return errors.Is(err, syscall.ENOTCONN)
}
