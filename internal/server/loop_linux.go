package server

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockd/sockd/internal/relay"
	"golang.org/x/sys/unix"
)

// The event loops serve the common session (SOCKS4 or SOCKS5 CONNECT to an
// address, decided without identd or name lookups, small messages) without
// a goroutine per connection: each loop is one locked thread around its
// own epoll set, which accepts, reads the handshake, decides, connects,
// replies and relays with raw non-blocking system calls. On this 2-core
// machine a goroutine per session cost about 45 µs more server time per
// connection than a loop (futex wake-ups between the runtime's threads,
// the monitor thread, four epoll_ctl and three empty reads per
// connection), which put the connection rate behind microsocks's.
//
// Everything else leaves the loop for a goroutine, at the first point
// where it differs from the common case, with what the loop has read so
// far (loopsession_linux.go, handOff): another SOCKS5 method, SOCKS4a and
// host names (DNS), BIND and UDP ASSOCIATE, upstream chaining, a rule that
// needs identd or a reverse name, any malformed message (the goroutine
// path logs and answers it), and bulk data, which a relay direction then
// moves with splice(2). A session thus behaves as the goroutine path
// would have served it; the loop is only where the common case runs.

// loopEvents is how many events one epoll_wait returns at most.
const loopEvents = 256

// acceptBatch bounds the connections one loop accepts per wake-up, so a
// flood of connections cannot starve the sessions it already serves.
const acceptBatch = 64

// eventLoop is one loop: its epoll set, the connections it serves, and a
// queue of work for it from other goroutines.
type eventLoop struct {
	s      *Server
	epfd   int
	wakefd int // an eventfd in the set: wakes the loop for its queue
	buf    []byte

	mu    sync.Mutex
	queue []func()
	ended bool // the loop has exited: its descriptors are closed

	conns     map[int32]*loopConn // by descriptor
	nextGen   uint32
	listeners map[*loopListener]bool // true while paused after an accept error
	resumeAt  time.Time              // when paused listeners are watched again
	backoff   acceptBackoff
	tick      time.Duration // how often deadlines are checked
	nextSweep time.Time
}

// loops are the server's event loops, one per P, started with the first
// listener served by them and ended once the server is closed and the
// loops serve nothing.
type loops struct {
	mu      sync.Mutex
	running []*eventLoop

	// listenerIDs tell listeners apart in epoll events: a listener closed
	// and another opened on the same descriptor number must not be
	// confused.
	listenerIDs atomic.Uint32

	// blockedHandOffs counts the relays handed off because a destination
	// could not take a whole message, so a test can tell it reached that
	// path.
	blockedHandOffs atomic.Int64

	// testHookConnecting, when a test sets it, runs on the loop once a
	// connect has begun, before the loop learns how it went: a test can
	// make the destination's first bytes arrive in the event that
	// completes it.
	testHookConnecting atomic.Pointer[func()]
}

// loopTick is how often a loop checks the deadlines of its sessions: a
// tenth of the shortest timeout, between 5 ms and 1 s.
func loopTick(o *Options) time.Duration {
	t := min(o.HandshakeTimeout, o.ConnectTimeout)
	if o.IdleTimeout > 0 {
		t = min(t, o.IdleTimeout)
	}
	return min(max(t/10, 5*time.Millisecond), time.Second)
}

// startLoops starts the loops if they are not running and gives each of
// them the listener. The caller holds s.mu (see serveLoops): a loop exits
// only under loops.mu with an empty queue, so none can exit before it has
// taken the listener.
func (s *Server) startLoops(ll *loopListener) error {
	s.loops.mu.Lock()
	defer s.loops.mu.Unlock()
	if s.loops.running == nil {
		var ls []*eventLoop
		for range runtime.GOMAXPROCS(0) {
			l, err := newEventLoop(s)
			if err != nil {
				for _, l := range ls {
					l.closeFDs()
				}
				return err
			}
			ls = append(ls, l)
		}
		s.loops.running = ls
		for _, l := range ls {
			go l.run()
		}
		context.AfterFunc(s.kill, func() {
			for _, l := range ls {
				l.do(l.killAll)
			}
		})
	}
	ll.removed.Add(len(s.loops.running))
	for _, l := range s.loops.running {
		l.do(func() {
			l.listeners[ll] = false
			l.watchListener(ll)
		})
	}
	return nil
}

func newEventLoop(s *Server) (*eventLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, errors.Join(errors.New("event loop"), err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, errors.Join(errors.New("event loop"), err)
	}
	l := &eventLoop{s: s, epfd: epfd, wakefd: wakefd, buf: make([]byte, relay.SmallReadLen),
		conns: make(map[int32]*loopConn), listeners: make(map[*loopListener]bool), tick: loopTick(&s.opts)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}); err != nil {
		l.closeFDs()
		return nil, errors.Join(errors.New("event loop"), err)
	}
	return l, nil
}

func (l *eventLoop) closeFDs() {
	unix.Close(l.wakefd)
	unix.Close(l.epfd)
}

// do runs f on the loop's thread, soon; not at all if the loop has ended.
func (l *eventLoop) do(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return
	}
	l.queue = append(l.queue, f)
	one := [8]byte{1}
	unix.Write(l.wakefd, one[:])
}

// run is the loop. It ends once the server is closed and the loop has
// neither listeners nor sessions left.
func (l *eventLoop) run() {
	runtime.LockOSThread() // the thread exits with the loop
	events := make([]unix.EpollEvent, loopEvents)
	for {
		n, err := unix.EpollWait(l.epfd, events, l.waitMillis())
		if err != nil && err != unix.EINTR {
			// Only a bad descriptor or argument gets here: a bug.
			l.s.log.Error("event loop failed", "err", err)
			l.killAll()
			return
		}
		for i := range max(n, 0) {
			ev := &events[i]
			if int(ev.Fd) == l.wakefd {
				l.runQueue()
				continue
			}
			if c := l.conns[ev.Fd]; c != nil && c.gen == uint32(ev.Pad) {
				c.ready(ev.Fd, ev.Events)
				continue
			}
			if ll := l.listenerOf(ev.Fd, uint32(ev.Pad)); ll != nil {
				l.accept(ll)
			}
		}
		l.sweep()
		if len(l.conns) == 0 && len(l.listeners) == 0 && l.s.isClosing() {
			if l.exit() {
				return
			}
		}
	}
}

// exit ends the loop unless work was queued for it meanwhile.
func (l *eventLoop) exit() bool {
	l.s.loops.mu.Lock()
	defer l.s.loops.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) > 0 {
		return false
	}
	for i, o := range l.s.loops.running {
		if o == l {
			l.s.loops.running = append(l.s.loops.running[:i:i], l.s.loops.running[i+1:]...)
			break
		}
	}
	if len(l.s.loops.running) == 0 {
		l.s.loops.running = nil
	}
	l.queue, l.ended = nil, true
	l.closeFDs()
	return true
}

func (l *eventLoop) runQueue() {
	var b [8]byte
	unix.Read(l.wakefd, b[:])
	l.mu.Lock()
	q := l.queue
	l.queue = nil
	l.mu.Unlock()
	for _, f := range q {
		f()
	}
}

// waitMillis is epoll_wait's timeout: until the next deadline check while
// there is something to time out, else for ever.
func (l *eventLoop) waitMillis() int {
	if len(l.conns) == 0 && l.resumeAt.IsZero() {
		return -1
	}
	now := time.Now()
	next := l.nextSweep
	if next.IsZero() {
		next = now.Add(l.tick)
		l.nextSweep = next
	}
	if !l.resumeAt.IsZero() && l.resumeAt.Before(next) {
		next = l.resumeAt
	}
	return int(max(next.Sub(now)+time.Millisecond-1, 0) / time.Millisecond)
}

// sweep ends the sessions whose deadline passed and watches paused
// listeners again once their pause is over.
func (l *eventLoop) sweep() {
	now := time.Now()
	if !l.resumeAt.IsZero() && !now.Before(l.resumeAt) {
		l.resumeAt = time.Time{}
		for ll, paused := range l.listeners {
			if paused {
				l.listeners[ll] = false
				l.watchListener(ll)
			}
		}
	}
	if l.nextSweep.IsZero() || now.Before(l.nextSweep) {
		return
	}
	l.nextSweep = time.Time{}
	for fd, c := range l.conns {
		if int(fd) == c.cfd { // once per session, not per descriptor
			c.checkDeadline(now)
		}
	}
}

// killAll ends every session of the loop at once: the server was killed.
func (l *eventLoop) killAll() {
	for fd, c := range l.conns {
		if int(fd) == c.cfd {
			c.kill()
		}
	}
}

// add registers fd for c; the event carries c's generation, so that an
// event still queued for a descriptor closed and reused within the same
// wake-up is not taken for the new connection's.
func (l *eventLoop) add(c *loopConn, fd int, events uint32) error {
	err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd), Pad: int32(c.gen)})
	if err == nil {
		l.conns[int32(fd)] = c
	}
	return err
}

// forget removes fd from the loop; remove says it must also leave the
// epoll set because the descriptor lives on (a handoff duplicates it).
func (l *eventLoop) forget(fd int, remove bool) {
	if fd < 0 {
		return
	}
	delete(l.conns, int32(fd))
	if remove {
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
}

// loopListener is a listening socket served by the loops: a duplicate of
// the descriptor of the listener given to Serve, which is closed so that
// the runtime's poller no longer watches the socket.
type loopListener struct {
	fd   int
	id   uint32
	addr net.Addr
	s    *Server

	// mu orders the sessions' start after Close: once Close has
	// returned, no accepted connection becomes a session, so Shutdown's
	// wait for the sessions cannot race with one more starting.
	mu     sync.Mutex
	closed bool

	closeOnce sync.Once
	removed   sync.WaitGroup // loops that still watch fd
	done      chan error     // Serve's result, sent once (doneOnce)
	doneOnce  sync.Once
}

// serveLoops serves ln with the event loops until Close; it reports false
// if ln cannot be served so (the caller then accepts with goroutines).
func (s *Server) serveLoops(ln net.Listener) (served bool, err error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return false, nil
	}
	raw, err := tl.SyscallConn()
	if err != nil {
		return false, nil
	}
	fd := -1
	if cerr := raw.Control(func(f uintptr) { fd, err = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); cerr != nil || err != nil {
		return false, nil
	}
	ll := &loopListener{fd: fd, id: s.loops.listenerIDs.Add(1), addr: tl.Addr(), s: s, done: make(chan error, 1)}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		unix.Close(fd)
		return false, nil // serve's own check reports it
	}
	if err := s.startLoops(ll); err != nil {
		s.mu.Unlock()
		unix.Close(fd)
		s.log.Warn("event loops unavailable, serving with goroutines", "err", err)
		return false, nil
	}
	delete(s.listeners, ln)
	s.listeners[ll] = struct{}{}
	s.mu.Unlock()
	tl.Close() // the runtime's poller lets go; the duplicate keeps the socket
	err = <-ll.done
	s.mu.Lock()
	delete(s.listeners, ll)
	s.listenersChanged()
	s.mu.Unlock()
	if err != nil {
		ll.Close()
	}
	return true, err
}

// Close stops every loop watching the listener and closes it; Serve then
// returns.
func (ll *loopListener) Close() error {
	ll.mu.Lock()
	ll.closed = true
	ll.mu.Unlock()
	ll.closeOnce.Do(func() {
		ll.s.loops.mu.Lock()
		for _, l := range ll.s.loops.running {
			l.do(func() { l.dropListener(ll) })
		}
		ll.s.loops.mu.Unlock()
		go func() {
			ll.removed.Wait()
			unix.Close(ll.fd)
			ll.finish(nil)
		}()
	})
	return nil
}

func (ll *loopListener) finish(err error) { ll.doneOnce.Do(func() { ll.done <- err }) }

// Accept is not used: the loops accept. It is here so that a loopListener
// sits in the server's set of listeners, which Close closes.
func (ll *loopListener) Accept() (net.Conn, error) { return nil, errors.ErrUnsupported }
func (ll *loopListener) Addr() net.Addr            { return ll.addr }

// watchListener adds the listener to the loop's set. EPOLLEXCLUSIVE wakes
// one loop per connection instead of all of them.
func (l *eventLoop) watchListener(ll *loopListener) {
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, ll.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE,
		Fd: int32(ll.fd), Pad: int32(ll.id)})
}

func (l *eventLoop) dropListener(ll *loopListener) {
	if _, ok := l.listeners[ll]; !ok {
		return
	}
	delete(l.listeners, ll)
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, ll.fd, nil)
	ll.removed.Done()
}

func (l *eventLoop) listenerOf(fd int32, id uint32) *loopListener {
	for ll, paused := range l.listeners {
		if ll.fd == int(fd) && ll.id == id && !paused {
			return ll
		}
	}
	return nil
}

// accept takes up to acceptBatch waiting connections and starts their
// sessions, screened and paced by the accept policy both engines share
// (screenAccepted, acceptBackoff): running out of descriptors pauses
// this loop's accepting.
func (l *eventLoop) accept(ll *loopListener) {
	for range acceptBatch {
		// syscall's, not x/sys/unix's: the latter asks every IPv4
		// socket's protocol (for L2TP), one more system call each.
		fd, sa, err := syscall.Accept4(ll.fd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		switch {
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR || err == unix.ECONNABORTED || err == unix.EPROTO:
			continue
		case isResourceExhausted(err):
			pause := l.backoff.next()
			l.s.log.Warn("accept failed, pausing", "err", &net.OpError{Op: "accept", Net: "tcp", Addr: ll.addr, Err: err},
				"pause", pause.String())
			for o := range l.listeners {
				if !l.listeners[o] {
					l.listeners[o] = true
					unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, o.fd, nil)
				}
			}
			l.resumeAt = time.Now().Add(pause)
			return
		case err != nil:
			ll.finish(&net.OpError{Op: "accept", Net: "tcp", Addr: ll.addr, Err: err})
			return
		}
		l.backoff = 0
		src := sockaddrAddrPort(sa)
		switch l.s.screenAccepted(src, func() netip.AddrPort { return fdLocalAddr(fd) }) {
		case acceptReset:
			unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
			fallthrough
		case acceptClose:
			unix.Close(fd)
			continue
		}
		ll.mu.Lock()
		if ll.closed {
			ll.mu.Unlock()
			l.s.active.Add(-1)
			unix.Close(fd) // accepted as the listener closed: as if never
			return
		}
		l.s.sessions.Add(1)
		ll.mu.Unlock()
		l.startSession(fd, src)
	}
}
