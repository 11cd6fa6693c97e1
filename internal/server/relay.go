package server

import (
	"errors"
	"io"
	"net"
	"os"
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
// request, goes to dst first. Each direction is a plain io.Copy between two
// *net.TCPConn, so Linux moves the data with splice(2) without copying it
// through user space; byte counts come from io.Copy's results. When one side
// ends its output, the other side's output is shut down (half-close), and
// the opposite direction keeps going. relay closes neither connection.
func relay(client, dst *net.TCPConn, leftover []byte, idle time.Duration) relayResult {
	r := &relaySession{client: client, dst: dst, idle: idle}
	r.touch()
	var res relayResult
	if len(leftover) > 0 {
		n, err := dst.Write(leftover)
		res.FromClient += int64(n)
		if err != nil {
			res.Err = err
			return res
		}
	}
	var wg sync.WaitGroup
	var upN int64
	var upErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		upN, upErr = r.copyDirection(dst, client)
	}()
	downN, downErr := r.copyDirection(client, dst)
	wg.Wait()
	res.FromClient += upN
	res.FromDst = downN
	res.Idle = r.idleHit.Load()
	if upErr != nil && !r.isAbortEcho(upErr) {
		res.Err = upErr
	} else if downErr != nil && !r.isAbortEcho(downErr) {
		res.Err = downErr
	}
	if res.Idle {
		res.Err = nil
	}
	return res
}

type relaySession struct {
	client, dst *net.TCPConn
	idle        time.Duration
	lastActive  atomic.Int64 // unix nanoseconds of the latest observed traffic
	aborted     atomic.Bool
	abortCause  atomic.Pointer[error]
	idleHit     atomic.Bool
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
			continue // the hold window ended: release the pipe, wait again
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
