package server

// The second half of an event-loop session: the non-blocking connect to
// the destination, the reply, and the relay the loop runs itself (pump)
// until bulk data or a full destination hands it to a goroutine relay
// (handOffRelay). The handshake and the request are in
// loopsession_linux.go, the reactor under both in internal/reactor.

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/sockd/sockd/internal/netfd"
	"github.com/sockd/sockd/internal/relay"
	"github.com/sockd/sockd/socks"
	"golang.org/x/sys/unix"
)

// connect starts the non-blocking connect to c.dst as dialSpec says.
func (c *loopConn) connect() {
	ss := c.ss
	c.dialed = time.Now()
	spec := ss.dialSpec(c.dst.Addr(), "", c.dialed, func() netip.AddrPort { return netfd.LocalAddr(c.cfd) })
	c.l.r.Schedule(&c.timer, spec.deadline, c)
	family := unix.AF_INET6
	if c.dst.Addr().Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		c.connectFailed(os.NewSyscallError("socket", err))
		return
	}
	c.tfd = fd
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	if spec.from.IsValid() {
		if err := unix.Bind(fd, netfd.Sockaddr(netip.AddrPortFrom(spec.from, 0), family)); err != nil {
			c.connectFailed(os.NewSyscallError("bind", err))
			return
		}
	}
	err = unix.Connect(fd, netfd.Sockaddr(c.dst, family))
	if err != nil && err != unix.EINPROGRESS && err != unix.EINTR {
		c.connectFailed(os.NewSyscallError("connect", err))
		return
	}
	// Registering a socket that is already connected reports it writable
	// at once, so both outcomes continue in connected.
	if err := c.l.r.Add(fd, connEvents, c); err != nil {
		c.connectFailed(err) // logged and answered as a failed connect
		return
	}
	c.state = stConnecting
	if hook := c.ss.s.loops.testHookConnecting.Load(); hook != nil {
		(*hook)()
	}
}

// connected completes the connect: the reply, the log line, then the relay.
func (c *loopConn) connected() {
	ss := c.ss
	soErr, err := unix.GetsockoptInt(c.tfd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soErr != 0 {
		err = unix.Errno(soErr)
	}
	if err == unix.EINPROGRESS || err == unix.EALREADY {
		return // a spurious wake-up
	}
	if err != nil {
		c.connectFailed(os.NewSyscallError("connect", err))
		return
	}
	ss.s.metrics.Connected(c.dialed)
	if !c.reply(granted, socks.AddrFromAddrPort(netfd.LocalAddr(c.tfd))) {
		c.end()
		return
	}
	ss.logConnected(c.lr, "")
	c.state = stRelay
	now := time.Now()
	c.lastActive = now.UnixNano()
	if idle := ss.s.opts.IdleTimeout; idle > 0 {
		c.l.r.Schedule(&c.timer, now.Add(idle), c)
	} else {
		c.l.r.Cancel(&c.timer)
	}
	if leftover := (*ss.buf)[c.consumed:c.n]; len(leftover) > 0 {
		w, err := unix.Write(c.tfd, leftover)
		if err == unix.EAGAIN {
			w, err = 0, nil
		}
		if err != nil {
			ss.releaseBuf()
			c.endRelay(relay.Result{Err: c.opError("write", c.dst, err)})
			return
		}
		c.up.n = int64(max(w, 0))
		if w < len(leftover) {
			c.handOffRelay(leftover[w:], nil)
			return
		}
	}
	ss.releaseBuf()
	if c.destStirred {
		c.pump(c.tfd, c.cfd, &c.down, &c.up)
	}
	if c.clientStirred && c.state == stRelay { // the first pump may have handed off
		c.pump(c.cfd, c.tfd, &c.up, &c.down)
	}
}

// connectFailed logs and answers a failed connect as the goroutine path
// does for a dial error, and ends the session.
func (c *loopConn) connectFailed(err error) {
	ss := c.ss
	ss.s.metrics.Connected(c.dialed)
	err = &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(c.dst), Err: err}
	ss.logFailure(c.lr, "connect", err)
	c.answerAndEnd(failure(err))
}

// clientLeft ends a session whose client closed or reset while its
// connect was pending, as the goroutine path's watchClient does: the
// connecting socket is released now, not at the connect timeout.
func (c *loopConn) clientLeft() {
	ss := c.ss
	ss.s.metrics.Connected(c.dialed)
	ss.left.Store(true)
	ss.logFailure(c.lr, "connect", errClientLeft)
	c.end()
}

// pump moves what src has to dst (relay.Pump), and hands the session to
// a goroutine relay, whose directions splice, when bulk data comes or dst
// cannot take a whole message.
func (c *loopConn) pump(src, dst int, d, other *loopDirection) {
	st := relay.Pump(src, dst, c.l.buf)
	if st.Sent > 0 {
		d.n += int64(st.Sent)
		c.ss.s.relays.AddCopied(int64(st.Sent))
		c.lastActive = time.Now().UnixNano()
	}
	switch st.Outcome {
	case relay.Failed:
		fd := src
		if st.Op == "write" {
			fd = dst
		}
		c.endRelay(c.result(c.opError(st.Op, c.peerOf(fd), st.Err)))
	case relay.EndOfFile:
		c.endOfFile(dst, d, other)
	case relay.Blocked:
		c.ss.s.loops.blockedHandOffs.Add(1)
		if src == c.cfd {
			c.handOffRelay(st.Rest, nil)
		} else {
			c.handOffRelay(nil, st.Rest)
		}
	case relay.Bulk:
		c.handOffRelay(nil, nil) // splice from here on
	}
}

// endOfFile passes a source's end of file on: a half-close, or, when the
// other direction has ended too, the end of the session, whose closes send
// the FIN without a shutdown.
func (c *loopConn) endOfFile(dst int, d, other *loopDirection) {
	d.eof = true
	if other.eof {
		c.endRelay(c.result(nil))
		return
	}
	if err := unix.Shutdown(dst, unix.SHUT_WR); err != nil && err != unix.ENOTCONN {
		c.endRelay(c.result(c.opError("shutdown", c.peerOf(dst), err)))
	}
}

func (c *loopConn) result(err error) relay.Result {
	return relay.Result{FromClient: c.up.n, FromDst: c.down.n, Err: err}
}

// peerOf is the address at the other end of fd, for an error's text.
func (c *loopConn) peerOf(fd int) netip.AddrPort {
	if fd == c.cfd {
		return c.ss.src
	}
	return c.dst
}

func (c *loopConn) opError(op string, peer netip.AddrPort, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Addr: net.TCPAddrFromAddrPort(peer), Err: os.NewSyscallError(op, err)}
}

// endRelay logs the session's end and ends it.
func (c *loopConn) endRelay(res relay.Result) {
	c.ss.logRelayEnd(c.lr, res)
	c.end()
}

// handOffRelay gives a relaying session to a goroutine relay: for bulk
// data, which it splices, or when a destination could not take a whole
// message (toDst or toClient: the rest, written first).
func (c *loopConn) handOffRelay(toDst, toClient []byte) {
	l, ss, cfd, tfd, lr := c.l, c.ss, c.cfd, c.tfd, c.lr
	toDst, toClient = bytes.Clone(toDst), bytes.Clone(toClient) // they alias the loop's buffer
	pre := relay.Result{FromClient: c.up.n, FromDst: c.down.n}
	upEOF, downEOF := c.up.eof, c.down.eof
	c.leave()
	l.remove(cfd)
	l.remove(tfd)
	c.cfd, c.tfd, c.state = -1, -1, stEnded
	c.ss.s.relays.Go(func() {
		client, cerr := netfd.TCPConn(cfd)
		dst, derr := netfd.TCPConn(tfd)
		if client != nil {
			ss.attach(client)
		}
		if dst != nil {
			ss.track(dst) // closed by finish, whatever failed
		}
		if err := errors.Join(cerr, derr); err != nil {
			pre.Err = err
			ss.logRelayEnd(lr, pre)
			ss.finish()
			return
		}
		ss.relayFrom(dst, toDst, toClient, pre, upEOF, downEOF, lr)
		if !ss.detached {
			ss.finish()
		}
	})
}
