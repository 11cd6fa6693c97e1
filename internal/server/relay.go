package server

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxSpliceHold bounds how long one io.Copy call may sit on a splice pipe.
// Go's splice path holds a pipe (two file descriptors) for the whole call,
// even while the source is silent; ending each call after a bounded window
// and then waiting for data without a pipe keeps an idle relayed connection
// at two descriptors instead of six.
const maxSpliceHold = time.Second

// relayResult is what a finished relay reports.
type relayResult struct {
	FromClient, FromDst int64 // bytes relayed in each direction (leftover included)
	Idle                bool  // ended by the idle timeout
	Err                 error // the first error other than an orderly end, nil otherwise
}

// relay copies between client and dst until both directions have reached
// end of file, one side fails, or nothing moved in either direction for
// idle (0 = no limit). leftover, the bytes the handshake read beyond the
// request, goes to dst first. It is startRelay, waited for.
func relay(client, dst *net.TCPConn, leftover []byte, idle time.Duration) relayResult {
	var pre int64
	if len(leftover) > 0 {
		n, err := dst.Write(leftover)
		pre = int64(n)
		if err != nil {
			return relayResult{FromClient: pre, Err: err}
		}
	}
	ch := make(chan relayResult, 1)
	startRelay(client, dst, idle, func(r relayResult) { ch <- r })
	r := <-ch
	r.FromClient += pre
	return r
}

// startRelay starts relaying between client and dst in two goroutines, one
// per direction, and returns at once; done is called once, by the
// direction that finishes last. Each direction is a plain io.Copy between
// two *net.TCPConn, so Linux moves the data with splice(2) without copying
// it through user space; byte counts come from io.Copy's results. When one
// side ends its output, the other side's output is shut down (half-close),
// and the opposite direction keeps going. The caller's goroutine is free to
// end, so an idle connection costs only the two small stacks of its
// directions. startRelay closes neither connection.
func startRelay(client, dst *net.TCPConn, idle time.Duration, done func(relayResult)) {
	startJanitor.Do(func() { go runJanitor() })
	r := &relaySession{client: client, dst: dst, idle: idle}
	r.touch()
	r.pending.Store(2)
	go func() {
		r.upN, r.upErr = r.copyDirection(dst, client)
		r.directionDone(done)
	}()
	go func() {
		r.downN, r.downErr = r.copyDirection(client, dst)
		r.directionDone(done)
	}()
}

// directionDone reports the result once both directions have ended; the
// atomic counter orders the other direction's writes before the reads.
func (r *relaySession) directionDone(done func(relayResult)) {
	if r.pending.Add(-1) != 0 {
		return
	}
	res := relayResult{FromClient: r.upN, FromDst: r.downN, Idle: r.idleHit.Load()}
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

// pipesReleased counts splice pipes handed back to Go's pipe pool. The pool
// is a sync.Pool: its pipes are closed only when garbage collections empty
// it, and a server whose connections are idle allocates almost nothing, so
// no collection would come and every idle connection would keep up to two
// pooled pipes (four descriptors) open. The janitor collects when pipes
// were released and the program is otherwise quiet.
var pipesReleased atomic.Int64

var startJanitor sync.Once

// janitorInterval is how often the janitor looks; two collections empty a
// sync.Pool, so released pipes are closed within about twice this.
const janitorInterval = 5 * time.Second

func runJanitor() {
	var last int64
	var pending int
	for range time.Tick(janitorInterval) {
		n := pipesReleased.Load()
		if n != last {
			last, pending = n, 2
		}
		if pending > 0 {
			pending--
			runtime.GC()
		}
	}
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
	for {
		// Wait for data (or end of file) without a pipe, bounded by the
		// idle deadline; traffic in the other direction moves the
		// deadline, so the check repeats until both sides are quiet.
		if r.idle > 0 {
			err = src.SetReadDeadline(time.Unix(0, r.lastActive.Load()).Add(r.idle))
		} else {
			err = src.SetReadDeadline(time.Time{})
		}
		if err == nil {
			err = waitReadable(raw)
		}
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
				continue
			}
			r.abort(err)
			return total, err
		}
		r.touch()
		if err := src.SetReadDeadline(time.Now().Add(hold)); err != nil {
			r.abort(err)
			return total, err
		}
		n, err := io.Copy(dst, src)
		total += n
		if n > 0 {
			r.touch()
		}
		switch {
		case err == nil:
			// End of file from src: pass the half-close on and let the
			// other direction finish.
			if cerr := dst.CloseWrite(); cerr != nil && !r.aborted.Load() && !isNotConnected(cerr) {
				r.abort(cerr)
				return total, cerr
			}
			return total, nil
		case r.aborted.Load():
			return total, err
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The hold window ended: the pipe went back to Go's pool;
			// wait for more data without one.
			pipesReleased.Add(1)
			continue
		default:
			r.abort(err)
			return total, err
		}
	}
}

// waitReadable blocks (through the runtime's poller, honouring the read
// deadline) until src has data, end of file or an error pending. It peeks
// one byte without consuming it. A pending socket error (a reset) is
// returned: the peek consumes it, so the splice that follows would see only
// an end of file and the session would wait for the other side forever.
func waitReadable(raw syscall.RawConn) error {
	var b [1]byte
	var peekErr error
	err := raw.Read(func(fd uintptr) bool {
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if err == unix.EAGAIN || err == unix.EINTR {
			return false
		}
		peekErr = err
		return true
	})
	if err != nil {
		return err
	}
	if peekErr != nil {
		return os.NewSyscallError("recvfrom", peekErr)
	}
	return nil
}

// isNotConnected: shutting down the output of a connection whose peer has
// already gone is not a relay failure.
func isNotConnected(err error) bool {
	return errors.Is(err, syscall.ENOTCONN)
}
