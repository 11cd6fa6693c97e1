package server

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/netfd"
	"github.com/sockd/sockd/internal/reactor"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// loopState is where a loop's session is.
type loopState uint8

const (
	stFirst      loopState = iota // reading the first message (SOCKS4 request or SOCKS5 greeting)
	stV5Request                   // method none sent, reading the SOCKS5 request
	stConnecting                  // waiting for the destination's connect
	stRelay                       // relaying small messages
	stEnded                       // closed, or handed off to a goroutine
)

// loopConn is one session served by a loop: the session (for the rules,
// the log lines and the metrics, shared with the goroutine path) and the
// raw descriptors of its two connections.
type loopConn struct {
	l        *eventLoop
	ss       *session
	cfd, tfd int
	state    loopState
	timer    reactor.Timer // the handshake's deadline, the connect's, then the idle timeout's

	n        int // handshake bytes in *ss.buf
	consumed int // of which the request: the rest goes to the destination
	lr       logline.Request
	dst      netip.AddrPort
	dialed   time.Time // when the connect began
	// clientStirred and destStirred: a socket had news (data, end of
	// file) while the connect was pending. With edge-triggered events no
	// later event repeats it, so it is read once the relay starts. A
	// destination that speaks first (a banner, a download) can have its
	// data in the very event that completes the connect, and, once its
	// data fills the socket buffer, send nothing that would wake the loop
	// again.
	clientStirred, destStirred bool

	up, down   loopDirection // client to destination, and back
	lastActive int64         // unix nanoseconds of the latest traffic
}

type loopDirection struct {
	n   int64 // bytes moved
	eof bool  // the source's end of file was passed on
}

// connEvents: edge-triggered, as the runtime's poller registers sockets,
// so a socket that stays readable or writable does not wake the loop
// again; every handler reads until it has what it needs or EAGAIN.
const connEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET

// startSession begins serving an accepted client.
func (l *eventLoop) startSession(fd int, src netip.AddrPort) {
	c := &loopConn{l: l, ss: l.s.newSession(src), cfd: fd, tfd: -1}
	l.conns[c] = struct{}{}
	l.r.Schedule(&c.timer, c.ss.handshakeDeadline(), c)
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) // as Go sets on every TCP socket
	if err := l.r.Add(fd, connEvents, c); err != nil {
		c.handshakeEnd(err) // logged as a failed handshake
	}
}

// Ready handles the events of one of c's descriptors.
func (c *loopConn) Ready(fd int, events uint32) {
	switch c.state {
	case stFirst, stV5Request:
		if fd == c.cfd {
			c.readHandshake(events&unix.EPOLLRDHUP != 0)
		}
	case stConnecting:
		if fd == c.tfd {
			if events&(unix.EPOLLIN|unix.EPOLLRDHUP) != 0 {
				c.destStirred = true
			}
			if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				c.connected()
			}
		} else if events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			c.clientLeft()
		} else {
			c.clientStirred = true
		}
	case stRelay:
		if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return // room to write again: nothing waits for it in the loop
		}
		if fd == c.cfd && !c.up.eof {
			c.pump(c.cfd, c.tfd, &c.up, &c.down)
		} else if fd == c.tfd && !c.down.eof {
			c.pump(c.tfd, c.cfd, &c.down, &c.up)
		}
	}
}

// readHandshake reads what the client sent and goes as far as it allows.
// A short read drained the socket, unless the client's end of file is
// pending too (hangup): it is read then, since no later event will tell.
func (c *loopConn) readHandshake(hangup bool) {
	buf := *c.ss.buf
	for {
		room := len(buf) - c.n
		if room == 0 {
			c.handOff() // longer than any message: the goroutine path says so
			return
		}
		m, err := unix.Read(c.cfd, buf[c.n:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return
		case err != nil:
			c.handshakeEnd(&net.OpError{Op: "read", Net: "tcp", Addr: net.TCPAddrFromAddrPort(c.ss.src), Err: os.NewSyscallError("read", err)})
			return
		case m == 0:
			if c.n > 0 {
				c.handshakeEnd(io.ErrUnexpectedEOF)
			} else {
				c.handshakeEnd(io.EOF)
			}
			return
		}
		c.n += m
		if !c.parse() {
			// A read that filled the buffer may have left data behind the
			// request (pipelined, up to any length), and no later event
			// will announce it: the relay reads it once connected.
			switch {
			case c.state != stConnecting:
			case hangup:
				c.clientLeft() // as a later event would say
			case m == room:
				c.clientStirred = true
			}
			return // served on, handed off or ended
		}
		if m < room && !hangup {
			return // the socket is drained
		}
	}
}

// parse takes the messages in the buffer; it reports false when the
// session left the handshake (served on, handed off or ended).
func (c *loopConn) parse() bool {
	ss := c.ss
	b := (*ss.buf)[:c.n]
	if c.state == stFirst {
		switch b[0] {
		case socks.Version5:
			g, k, err := socks.ParseV5Greeting(b)
			if err == socks.ErrIncomplete {
				return true
			}
			if err != nil || ss.s.chooseMethod(g) != socks.MethodNoAuth {
				c.handOff()
				return false
			}
			ss.obs.Version = socks.Version5
			if _, err := unix.Write(c.cfd, socks.AppendV5MethodChoice(nil, socks.MethodNoAuth)); err != nil {
				c.end() // as ss.write failing: nothing to log
				return false
			}
			c.n = copy(b, b[k:])
			c.state = stV5Request
			if c.n == 0 {
				return true
			}
			b = b[:c.n]
		case socks.Version4:
			req, k, err := socks.ParseV4Request(b)
			if err == socks.ErrIncomplete {
				return true
			}
			ss.obs.Version = socks.Version4
			if err != nil || req.Command != socks.V4Connect || req.Dst.Name != "" || !ss.s.socks4Allowed() || ss.snap.client != nil {
				c.handOff()
				return false
			}
			c.request(request{cmd: policy.CmdConnect, dst: req.Dst, user: req.UserID}, k)
			return false
		default:
			c.handOff()
			return false
		}
	}
	req, k, err := socks.ParseV5Request(b)
	if err == socks.ErrIncomplete {
		return true
	}
	if err != nil || req.Command != socks.V5Connect || req.Dst.Name != "" || ss.snap.client != nil {
		c.handOff()
		return false
	}
	c.request(request{cmd: policy.CmdConnect, dst: socks.Addr{IP: req.Dst.IP.Unmap(), Port: req.Dst.Port}}, k)
	return false
}

// errNeedsLookup stands in for identd and the name lookups a loop cannot
// wait for: a decision that asked for one is redone on a goroutine.
var errNeedsLookup = errors.New("needs a lookup")

// request decides a CONNECT to an address, the request being the first k
// bytes of the buffer, and connects if it is permitted: the outline of
// the goroutine path's serveRequest, for what the loop serves.
func (c *loopConn) request(r request, k int) {
	ss := c.ss
	c.consumed = k
	c.lr = ss.requestLog(r)
	ip, port := r.dst.IP, r.dst.Port
	req := ss.policyRequest(r.cmd, ip, "", port, r.user)
	lookedUp := false
	req.SrcNames = func() []string { lookedUp = true; return nil }
	req.DstNames = req.SrcNames
	req.Ident = func() (string, error) { lookedUp = true; return "", errNeedsLookup }
	d := ss.snap.policy.Decide(req, nil)
	if lookedUp {
		c.handOff()
		return
	}
	ss.decided(req, &d, &c.lr)
	switch {
	case !d.Permit:
		c.answerAndEnd(refusal(&d))
		return
	case ss.proxyLoop(ip, port, c.lr):
		c.answerAndEnd(notAllowed)
		return
	}
	c.dst = netip.AddrPortFrom(ip, port)
	c.connect()
}

// handshakeEnd ends a session whose client went away or went silent
// before its request was complete.
func (c *loopConn) handshakeEnd(err error) {
	c.ss.handshakeFailed(err)
	c.end()
}

// Expire ends the session: its handshake or connect deadline passed, or
// its relay may have been idle for the idle timeout. A relay that moved
// data since its timer was set is timed again from its latest traffic,
// so that traffic costs no heap update.
func (c *loopConn) Expire(now time.Time) {
	switch c.state {
	case stFirst, stV5Request:
		c.handshakeEnd(os.ErrDeadlineExceeded)
	case stConnecting:
		c.connectFailed(os.ErrDeadlineExceeded)
	case stRelay:
		if left := c.lastActive + int64(c.ss.s.opts.IdleTimeout) - now.UnixNano(); left > 0 {
			c.l.r.Schedule(&c.timer, now.Add(time.Duration(left)), c)
			return
		}
		res := c.result(nil)
		res.Idle = true
		c.endRelay(res)
	}
}

// kill ends the session at once: the drain deadline passed.
func (c *loopConn) kill() {
	switch c.state {
	case stEnded:
		return
	case stRelay:
		c.endRelay(c.result(net.ErrClosed))
		return
	}
	c.handshakeEnd(net.ErrClosed)
}

// end closes both descriptors (which takes them out of the epoll set)
// and finishes the session.
func (c *loopConn) end() {
	c.leave()
	for _, fd := range []int{c.cfd, c.tfd} {
		if fd >= 0 {
			c.l.r.CloseFD(fd)
		}
	}
	c.cfd, c.tfd, c.state = -1, -1, stEnded
	c.ss.finish()
}

// leave takes the session out of its loop: out of the loop's sessions and
// the deadline heap.
func (c *loopConn) leave() {
	delete(c.l.conns, c)
	c.l.r.Cancel(&c.timer)
}

// reply sends an answer in the client's version, as the goroutine
// path's reply does, and reports whether it was written.
func (c *loopConn) reply(a answer, bound socks.Addr) bool {
	var b [socks.MaxV5RequestLen]byte
	_, err := unix.Write(c.cfd, appendAnswer(b[:0], c.ss.obs.Version, a, bound))
	return err == nil
}

// answerAndEnd sends a refusal or failure and ends the session.
func (c *loopConn) answerAndEnd(a answer) {
	c.reply(a, socks.Addr{})
	c.end()
}

// handOff gives a session still in its handshake to a goroutine, which
// serves it from the bytes read so far as if it had read them itself.
func (c *loopConn) handOff() {
	l, ss, fd, n, state := c.l, c.ss, c.cfd, c.n, c.state
	c.leave()
	l.remove(fd)
	c.cfd, c.state = -1, stEnded
	c.ss.s.relays.Go(func() {
		client, err := netfd.TCPConn(fd)
		if err != nil {
			ss.handshakeFailed(err)
			ss.finish()
			return
		}
		ss.attach(client)
		client.SetDeadline(ss.handshakeDeadline())
		rd := socks.NewReaderBuffered(client, *ss.buf, n)
		if state == stV5Request {
			ss.serveV5Request(rd, "")
		} else {
			ss.handshake(rd)
		}
		if !ss.detached {
			ss.finish()
		}
	})
}
