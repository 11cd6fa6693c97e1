package relay

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// splicePipeSize is the capacity asked of each bulk pipe: the default
// ceiling of /proc/sys/fs/pipe-max-size, as Go's own splice uses. A
// refusal (a lower ceiling, or the user's pipe-page budget spent) leaves
// the default 64 KB, which works, with more system calls.
const splicePipeSize = 1 << 20

// spliceFlags: the pipe ends are non-blocking anyway; SPLICE_F_MOVE is a
// hint the kernel may use to move pages instead of copying them.
const spliceFlags = unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK

// bulkPipe is one bulk window's pipe, shared by a filler (socket to pipe)
// and a drainer (pipe to socket) running at the same time. Go's own splice
// does the two steps one after the other in one goroutine, so the source
// is not read while the destination is written: on loopback the relay
// then waits on one side at a time. Here both sides move at once.
//
// The filler is the only one to add bytes and the drainer the only one to
// remove them, and each counts what it did in held. That count resolves
// what splice's EAGAIN means for the filler, which is either "the source
// has nothing" or "the pipe is full": if the pipe was empty when the
// splice began it cannot have been full, so the source is empty and the
// filler waits for it to become readable; otherwise the filler waits for
// the drainer to make room and tries again. The drainer splices only what
// held says is there, so its EAGAIN always means the destination is full.
type bulkPipe struct {
	r, w int          // the pipe's read and write ends, non-blocking
	held atomic.Int64 // bytes in the pipe

	// Each is a one-slot doorbell rung after every change the other side
	// may be waiting for. A ring that finds the slot taken is dropped: the
	// waiter rechecks the state on waking, so one pending ring is enough
	// and a stale one costs only a recheck.
	filled  chan struct{} // bytes were added
	drained chan struct{} // bytes were removed, or the drainer has ended

	drainerDone atomic.Bool
	fillErr     error         // why the filler ended: nil at end of file; read after fillerExit
	fillerExit  chan struct{} // closed when the filler has ended, after its last count
}

func ring(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// spliceBulk moves src to dst until src's end of file (nil error), src's
// read deadline (os.ErrDeadlineExceeded, the hold window), or an error on
// either side, like io.Copy but with reading and writing overlapped. It
// returns the bytes written to dst; everything read from src has been
// written when it returns without a destination error. Its pipe is
// closed before it returns, so a relay between bulk windows holds none.
func (rs *Relays) spliceBulk(dst, src *net.TCPConn) (int64, error) {
	srcRaw, err := src.SyscallConn()
	if err != nil {
		return 0, err
	}
	dstRaw, err := dst.SyscallConn()
	if err != nil {
		return 0, err
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		// Out of descriptors, most likely: this window goes through
		// user space, which needs none.
		return rs.copyThroughUserSpace(dst, src)
	}
	_, _ = unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, splicePipeSize)
	p := &bulkPipe{r: fds[0], w: fds[1],
		filled: make(chan struct{}, 1), drained: make(chan struct{}, 1), fillerExit: make(chan struct{})}
	defer func() {
		// Only after the filler has left may the descriptors go: their
		// numbers could otherwise be reused under its splice.
		unix.Close(p.r)
		unix.Close(p.w)
	}()
	go p.fill(srcRaw)
	written, werr := p.drain(dstRaw)
	if werr != nil {
		// The drainer fails only while the pipe holds bytes, so the
		// filler is not parked on the source (it waits for the source
		// only when the pipe is empty) but splicing or waiting for
		// room: the ring reaches it. Its hold deadline bounds the rest.
		p.drainerDone.Store(true)
		ring(p.drained)
	}
	<-p.fillerExit
	if werr != nil {
		return written, werr
	}
	return written, p.fillErr
}

// fill splices from the source socket into the pipe until end of file, an
// error, the source's read deadline, or the drainer's end.
func (p *bulkPipe) fill(srcRaw syscall.RawConn) {
	defer close(p.fillerExit)
	for !p.drainerDone.Load() {
		var n int64
		var serr error
		pipeFull := false
		err := srcRaw.Read(func(fd uintptr) bool {
			for {
				before := p.held.Load()
				n, serr = unix.Splice(int(fd), nil, p.w, nil, splicePipeSize, spliceFlags)
				switch {
				case serr == unix.EINTR:
					continue
				case serr == unix.EAGAIN && before == 0:
					return false // the source is empty: wait until readable
				case serr == unix.EAGAIN:
					pipeFull = true // or the source empty; the drainer's progress tells
				}
				return true
			}
		})
		switch {
		case err != nil:
			p.fillErr = err
			return
		case pipeFull:
			<-p.drained
		case serr != nil:
			p.fillErr = os.NewSyscallError("splice", serr)
			return
		case n == 0:
			return // end of file
		default:
			p.held.Add(n)
			ring(p.filled)
		}
	}
}

// drain splices from the pipe to the destination socket until the filler
// has ended and the pipe is empty, or the destination fails.
func (p *bulkPipe) drain(dstRaw syscall.RawConn) (written int64, err error) {
	for {
		held := p.held.Load()
		if held == 0 {
			select {
			case <-p.fillerExit:
				// The filler counted its last bytes before it left: a
				// second look settles whether any came.
				if p.held.Load() == 0 {
					return written, nil
				}
			case <-p.filled:
			}
			continue
		}
		var n int64
		var serr error
		err := dstRaw.Write(func(fd uintptr) bool {
			for {
				n, serr = unix.Splice(p.r, nil, int(fd), nil, int(held), spliceFlags)
				switch serr {
				case unix.EINTR:
					continue
				case unix.EAGAIN:
					return false // the destination is full: wait until writable
				}
				return true
			}
		})
		if err == nil && serr != nil {
			err = os.NewSyscallError("splice", serr)
		}
		if err == nil && n == 0 {
			// The pipe held bytes that splice did not find: not
			// something the kernel does, but not a reason to spin.
			err = io.ErrNoProgress
		}
		if err != nil {
			return written, err
		}
		written += n
		p.held.Add(-n)
		ring(p.drained)
	}
}

// copyThroughUserSpace is a bulk window without a pipe: read and write
// with a pooled buffer, honouring src's read deadline as splicing does.
// The wrappers keep io.CopyBuffer from choosing net's own splice, which
// would take a pipe from Go's pool and keep it open there.
func (rs *Relays) copyThroughUserSpace(dst, src *net.TCPConn) (int64, error) {
	buf := smallBufs.Get().(*[]byte)
	defer smallBufs.Put(buf)
	n, err := io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *buf)
	rs.copied.Add(n)
	return n, err
}

// sendMore writes p to c with MSG_MORE: the kernel holds a short tail
// back for what follows, here the FIN of the shutdown or close that the
// caller makes next.
func sendMore(c *net.TCPConn, p []byte) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var sendErr error
	err = raw.Write(func(fd uintptr) bool {
		for n < len(p) {
			k, e := Send(int(fd), p[n:], unix.MSG_MORE|unix.MSG_NOSIGNAL)
			if e == unix.EAGAIN {
				return false
			}
			if e == unix.EINTR {
				continue
			}
			if e != nil {
				sendErr = os.NewSyscallError("sendto", e)
				return true
			}
			n += k
		}
		return true
	})
	if err == nil {
		err = sendErr
	}
	return n, err
}

// Send is send(2) on a connected socket's descriptor, called directly:
// unix.SendmsgN builds a message header in a frame large enough to grow
// the relay goroutine's stack on nearly every connection's last reply. The
// server's event loop sends with it too (flags MSG_MORE for a last reply,
// MSG_NOSIGNAL always).
func Send(fd int, p []byte, flags int) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), uintptr(flags), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
