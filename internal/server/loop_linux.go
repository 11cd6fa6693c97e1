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

	"github.com/sockd/sockd/internal/acceptgate"
	"github.com/sockd/sockd/internal/netfd"
	"github.com/sockd/sockd/internal/reactor"
	"github.com/sockd/sockd/internal/relay"
	"golang.org/x/sys/unix"
)

// The event loops serve the common session (SOCKS4 or SOCKS5 CONNECT to an
// address, decided without identd or name lookups, small messages) without
// a goroutine per connection: each loop is one locked thread around its
// own epoll set, which accepts, reads the handshake, decides, connects,
// replies and relays with raw non-blocking system calls. A goroutine per
// session costs more server time per connection than a loop (futex
// wake-ups between the runtime's threads, the monitor thread, four
// epoll_ctl and three empty reads per connection), which put the
// connection rate behind microsocks's (bench/ measures it).
//
// Everything else leaves the loop for a goroutine, at the first point
// where it differs from the common case, with what the loop has read so
// far (loopsession_linux.go, handOff): another SOCKS5 method, SOCKS4a and
// host names (DNS), BIND and UDP ASSOCIATE, upstream chaining, a rule that
// needs identd or a reverse name, any malformed message (the goroutine
// path logs and answers it), and bulk data, which a relay direction then
// moves with splice(2). A session thus behaves as the goroutine path
// would have served it; the loop is only where the common case runs.
//
// The epoll set, the deadline heap and the wake-ups from other goroutines
// are internal/reactor's; this file adds the listeners, accepting and the
// loops' life with the server, and the sessions are loopConns, each a
// reactor.Handler for its descriptors and a reactor.Expirer for its
// deadline.

// acceptBatch bounds the connections one loop accepts per wake-up, so a
// flood of connections cannot starve the sessions it already serves.
const acceptBatch = 64

// eventLoop is one loop: a reactor (internal/reactor: the epoll set, the
// deadline heap, the queue of work from other goroutines) and the
// sessions and listeners it serves.
type eventLoop struct {
	s   *Server
	r   *reactor.Reactor
	buf []byte

	conns     map[*loopConn]struct{}
	listeners map[*loopListener]*listenerWatch
	resume    reactor.Timer // when listeners paused after an accept error are watched again
	backoff   acceptgate.Backoff
}

// listenerWatch is a listener in one loop's epoll set.
type listenerWatch struct {
	l       *eventLoop
	ll      *loopListener
	watched bool // in the set: not while paused, nor after adding it failed
}

func (w *listenerWatch) Ready(int, uint32) { w.l.accept(w.ll) }

// loops are the server's event loops, one per P, started with the first
// listener served by them and ended once the server is closed and the
// loops serve nothing.
type loops struct {
	mu      sync.Mutex
	running []*eventLoop

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
			r, err := reactor.New()
			if err != nil {
				for _, l := range ls {
					l.r.Close()
				}
				return errors.Join(errors.New("event loop"), err)
			}
			ls = append(ls, &eventLoop{s: s, r: r, buf: make([]byte, relay.SmallReadLen),
				conns: make(map[*loopConn]struct{}), listeners: make(map[*loopListener]*listenerWatch)})
		}
		s.loops.running = ls
		for _, l := range ls {
			go l.run()
		}
		context.AfterFunc(s.kill, func() {
			for _, l := range ls {
				l.r.Do(l.killAll)
			}
		})
	}
	ll.removed.Add(len(s.loops.running))
	for _, l := range s.loops.running {
		l.r.Do(func() {
			w := &listenerWatch{l: l, ll: ll}
			l.listeners[ll] = w
			l.watchListener(w)
		})
	}
	return nil
}

// run is the loop. It ends once the server is closed and the loop has
// neither listeners nor sessions left.
func (l *eventLoop) run() {
	runtime.LockOSThread() // the thread exits with the loop
	if err := l.r.Run(l.exitIfDone); err != nil {
		// Only a bad descriptor or argument gets here: a bug.
		l.s.log.Error("event loop failed", "err", err)
		l.killAll()
		for ll := range l.listeners {
			l.dropListener(ll)
		}
		l.s.loops.mu.Lock()
		l.leave()
		l.s.loops.mu.Unlock()
	}
	l.r.Close()
}

// exitIfDone stops the loop once the server is closing and the loop
// serves nothing, unless work was queued for it meanwhile.
func (l *eventLoop) exitIfDone() {
	if len(l.conns) > 0 || len(l.listeners) > 0 || !l.s.Closing() {
		return
	}
	l.s.loops.mu.Lock()
	defer l.s.loops.mu.Unlock()
	if l.r.Stop() {
		l.leave()
	}
}

// leave takes the loop out of the running ones; the caller holds
// loops.mu.
func (l *eventLoop) leave() {
	for i, o := range l.s.loops.running {
		if o == l {
			l.s.loops.running = append(l.s.loops.running[:i:i], l.s.loops.running[i+1:]...)
			break
		}
	}
	if len(l.s.loops.running) == 0 {
		l.s.loops.running = nil
	}
}

// Expire watches the listeners paused after an accept error again.
func (l *eventLoop) Expire(time.Time) {
	for _, w := range l.listeners {
		if !w.watched {
			l.watchListener(w)
		}
	}
}

// killAll ends every session of the loop at once: the server was killed.
func (l *eventLoop) killAll() {
	for c := range l.conns {
		c.kill()
	}
}

// remove takes fd, which lives on elsewhere, out of the loop's epoll set.
// A failure is logged and is no reason to stop: the reactor no longer
// calls the loop for fd, whatever the set still holds.
func (l *eventLoop) remove(fd int) {
	if err := l.r.Remove(fd); err != nil {
		l.s.log.Error("event loop", "err", err)
	}
}

// loopListener is a listening socket served by the loops: a duplicate of
// the descriptor of the listener given to Serve, which is closed so that
// the runtime's poller no longer watches the socket.
type loopListener struct {
	fd   int
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
	ll := &loopListener{fd: fd, addr: tl.Addr(), s: s, done: make(chan error, 1)}
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
			l.r.Do(func() { l.dropListener(ll) })
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
// one loop per connection instead of all of them. A listener the loop
// cannot watch ends its Serve with the error, as an accept error does.
func (l *eventLoop) watchListener(w *listenerWatch) {
	if err := l.r.Add(w.ll.fd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE, w); err != nil {
		w.ll.finish(&net.OpError{Op: "accept", Net: "tcp", Addr: w.ll.addr, Err: err})
		return
	}
	w.watched = true
}

// unwatchListener takes the listener out of the loop's set.
func (l *eventLoop) unwatchListener(w *listenerWatch) {
	if w.watched {
		w.watched = false
		l.remove(w.ll.fd)
	}
}

func (l *eventLoop) dropListener(ll *loopListener) {
	w, ok := l.listeners[ll]
	if !ok {
		return
	}
	delete(l.listeners, ll)
	l.unwatchListener(w)
	ll.removed.Done()
}

// accept takes up to acceptBatch waiting connections and starts their
// sessions, screened and paced by the accept policy both engines share
// (screenAccepted, acceptgate.Backoff): running out of descriptors pauses
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
		case acceptgate.OutOfDescriptors(err):
			pause := l.backoff.Next()
			l.s.log.Warn("accept failed, pausing", "err", &net.OpError{Op: "accept", Net: "tcp", Addr: ll.addr, Err: err},
				"pause", pause.String())
			for _, w := range l.listeners {
				l.unwatchListener(w)
			}
			l.r.Schedule(&l.resume, time.Now().Add(pause), l)
			return
		case err != nil:
			ll.finish(&net.OpError{Op: "accept", Net: "tcp", Addr: ll.addr, Err: err})
			return
		}
		l.backoff.Reset()
		src := netfd.AddrPort(sa)
		switch l.s.screenAccepted(src, func() netip.AddrPort { return netfd.LocalAddr(fd) }) {
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
