package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/metrics"
	"github.com/sockd/sockd/internal/resolve"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// handshakeBufLen holds the longest message (a SOCKS4a request) plus room
// for data the client pipelines behind it, which then costs no extra read.
const handshakeBufLen = 1024

// handshakeBufs are reused across sessions: a session needs its buffer only
// until the relay has forwarded the bytes read beyond the request.
var handshakeBufs = sync.Pool{New: func() any { b := make([]byte, handshakeBufLen); return &b }}

// session is one client connection and everything opened on its behalf.
type session struct {
	s      *Server
	snap   *snapshot
	client *net.TCPConn
	src    netip.AddrPort // the client
	local  netip.AddrPort // the server's side of the client connection
	// bindWant is a BIND request's DST.PORT, for srelay's choice of the
	// listening port (bindport.go).
	bindWant uint16

	mu      sync.Mutex
	closers []io.Closer
	closed  bool

	buf   *[]byte   // the handshake buffer, until the relay starts
	start time.Time // when the client was accepted (also the metrics' handshake latency)

	// detached is set when the relay took the session over: the relay's
	// last direction then calls finish, and the session's own goroutine
	// ends early so that its stack, grown by the handshake, is freed.
	detached bool
	stopKill func() bool
	ended    chan struct{} // closed by finish; nil for a session no one waits for

	obs metrics.Session // the SOCKS version, and what the metrics remember

	identOnce sync.Once
	identUser string
	identErr  error

	// While a request waits (resolve, connect, BIND's peer), the client
	// is watched (watchPending): ctx ends the wait when the client
	// leaves, and left records that it did, for the log line.
	ctx       context.Context
	cancel    context.CancelFunc
	stopWatch func()
	left      atomic.Bool
}

// errClientLeft is why a request that was still waiting ended: the client
// closed or reset its connection before the reply.
var errClientLeft = errors.New("the client left before the reply")

// watchPending starts watching the client while its request waits: once
// the client closes or resets, every wait of the session ends and what it
// holds is closed. endPending stops the watch; a session that reads its
// client again (the relay) must call it first.
func (ss *session) watchPending() {
	ss.ctx, ss.cancel = context.WithCancel(ss.s.kill)
	ss.stopWatch = ss.watchClient(func() {
		ss.left.Store(true)
		ss.cancel()
		ss.closeAll()
	})
}

func (ss *session) endPending() {
	if ss.stopWatch != nil {
		ss.stopWatch()
		ss.stopWatch = nil
		ss.cancel() // a child of the kill switch is held until cancelled
		ss.ctx, ss.cancel = nil, nil
	}
}

// context is what bounds the session's waits: the server's kill switch,
// and the client's leaving while a request waits.
func (ss *session) context() context.Context {
	if ss.ctx != nil {
		return ss.ctx
	}
	return ss.s.kill
}

func unmapAP(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if ua, ok := a.(*net.UDPAddr); ok {
		ap := ua.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// track registers something to close when the session ends or the server
// is killed; it reports false (and closes c) if that already happened.
func (ss *session) track(c io.Closer) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		c.Close()
		return false
	}
	ss.closers = append(ss.closers, c)
	return true
}

func (ss *session) closeAll() {
	ss.mu.Lock()
	cs := ss.closers
	ss.closers, ss.closed = nil, true
	ss.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

// serveConn serves one client. The session ends (finish) when serveConn
// returns, or, once a relay has started, when the relay ends; the returned
// channel is closed then.
func (s *Server) serveConn(c *net.TCPConn, lo *ListenerOptions) <-chan struct{} {
	ss := s.newSession(unmapAP(c.RemoteAddr()))
	ss.ended = make(chan struct{})
	ss.attach(c)
	if lo != nil && !ss.readProxyHeader(lo) {
		ss.finish()
		return ss.ended
	}
	c.SetDeadline(ss.handshakeDeadline())
	ss.handshake(socks.NewReader(c, *ss.buf))
	if !ss.detached {
		ss.finish()
	}
	return ss.ended
}

// newSession starts a session for the client at src, with the snapshot in
// force now and a handshake buffer; its connections come with attach (a
// goroutine's session) or stay with the event loop (loop_linux.go).
func (s *Server) newSession(src netip.AddrPort) *session {
	ss := &session{s: s, snap: s.snap.Load(), src: src, start: time.Now(), stopKill: func() bool { return false }}
	ss.buf = handshakeBufs.Get().(*[]byte)
	return ss
}

// attach makes c the session's client connection, closed when the
// session ends or the server is killed.
func (ss *session) attach(c *net.TCPConn) {
	ss.client, ss.local = c, unmapAP(c.LocalAddr())
	ss.track(c)
	ss.stopKill = context.AfterFunc(ss.s.kill, ss.closeAll)
}

// handshakeDeadline is when the client must have sent its request.
func (ss *session) handshakeDeadline() time.Time { return ss.start.Add(ss.s.opts.HandshakeTimeout) }

// finish releases everything of the session and counts it as ended.
func (ss *session) finish() {
	ss.s.metrics.SessionEnded(&ss.obs)
	ss.stopKill()
	ss.closeAll()
	ss.releaseBuf()
	ss.s.active.Add(-1)
	ss.s.sessions.Done()
	if ss.ended != nil {
		close(ss.ended)
	}
}

// handshake serves the session from its first message on; rd reads the
// client connection, its buffer being the session's handshake buffer.
func (ss *session) handshake(rd *socks.Reader) {
	s := ss.s
	v, err := rd.PeekVersion()
	if err != nil {
		ss.handshakeFailed(err)
		return
	}
	ss.obs.Version = v
	switch v {
	case socks.Version4:
		ss.serveV4(rd)
	case socks.Version5:
		ss.serveV5(rd)
	default:
		s.log.Warn(logline.WrongVersion(v, ss.srcName()), "client", ss.src.String())
	}
}

func (ss *session) srcName() string { return ss.src.Addr().String() }

// handshakeFailed logs why a client went away before its request was
// complete; a silent client past the handshake timeout is the usual case.
func (ss *session) handshakeFailed(err error) {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		ss.s.log.Info("handshake timed out", "client", ss.src.String())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		ss.s.log.Debug("client closed during handshake", "client", ss.src.String())
	default:
		ss.s.log.Info("handshake failed", "client", ss.src.String(), "err", err)
	}
}

func (ss *session) service(port uint16) string {
	if name, ok := ss.s.services[port]; ok {
		return name
	}
	return portString(port)
}

// ident asks the client's identd once per session, whatever the number of
// decisions (a UDP association decides every new destination).
func (ss *session) ident() (string, error) {
	ss.identOnce.Do(func() {
		rep, err := ss.s.opts.identQuery(ss.s.kill, ss.local, ss.src, ss.s.opts.IdentTimeout)
		ss.identUser, ss.identErr = rep.UserID, err
	})
	return ss.identUser, ss.identErr
}

func (ss *session) policyRequest(cmd policy.Command, dstIP netip.Addr, dstName string, port uint16, user string) *policy.Request {
	req := &policy.Request{
		Command: cmd,
		SrcIP:   ss.src.Addr(), SrcPort: ss.src.Port(),
		DstIP: dstIP, DstName: dstName, DstPort: port,
		User:     user,
		SrcNames: func() []string { return ss.s.confirmedNames(ss.src.Addr()) },
		Ident:    ss.ident,
	}
	if dstIP.IsValid() {
		req.DstNames = func() []string { return ss.s.confirmedNames(dstIP) }
	}
	return req
}

// decide runs the rules, logs the identd notes and the refusal, and starts
// the decision's shell commands in the background.
func (ss *session) decide(req *policy.Request, lr *logline.Request) policy.Decision {
	d := ss.snap.policy.Decide(req, nil)
	ss.decided(req, &d, lr)
	return d
}

// decideDestination decides a CONNECT or BIND. A host name is resolved
// (into *ip) only when the rules need its address or the request is
// permitted: a name the rules refuse by name never reaches DNS, and the
// decision is the one the address would have got (policy's
// DecideBeforeResolve). A name an upstream resolves is never resolved
// here. resolveErr is the lookup's failure, for a permitted request.
func (ss *session) decideDestination(cmd policy.Command, ip *netip.Addr, name string, port uint16, user string, lr *logline.Request) (d policy.Decision, resolveErr error) {
	if name == "" || ss.nameGoesUpstream(cmd, name, port, user) {
		return ss.decide(ss.policyRequest(cmd, *ip, name, port, user), lr), nil
	}
	return ss.decideName(cmd, ip, name, port, user, lr)
}

// decideName decides a request for a name the server resolves itself,
// and sets *ip to its address when that is needed: by the rules first
// where the deciding line does not depend on the address, so a name the
// rules refuse by name never reaches DNS.
func (ss *session) decideName(cmd policy.Command, ip *netip.Addr, name string, port uint16, user string, lr *logline.Request) (d policy.Decision, resolveErr error) {
	req := ss.policyRequest(cmd, netip.Addr{}, name, port, user)
	d, decided := ss.snap.policy.DecideBeforeResolve(req)
	if decided {
		ss.decided(req, &d, lr)
		if d.Permit {
			*ip, resolveErr = ss.resolve(name)
		}
		return d, resolveErr
	}
	*ip, resolveErr = ss.resolve(name)
	return ss.decide(ss.policyRequest(cmd, *ip, name, port, user), lr), resolveErr
}

// decided is decide's second half, for a decision already made.
func (ss *session) decided(req *policy.Request, d *policy.Decision, lr *logline.Request) {
	if d.IdentUser != "" {
		lr.Ident = d.IdentUser
	}
	if note := logline.IdentNote(d, req); note != "" {
		ss.s.log.Warn(note, "client", ss.src.String(), "user", req.User)
	}
	for _, e := range []error{d.PreCommandErr, d.CommandErr} {
		if e != nil {
			ss.s.log.Warn("error -- shell command "+e.Error()+".", "client", ss.src.String())
		}
	}
	ss.s.commands.Run(d.ShellCommands(), nil)
	ss.s.metrics.Decided(&ss.obs, ss.start, ss.snap.origin.Path, req, d)
	ss.recordHit(req, d)
	if diff := ss.snap.shadow.Decide(req, d); diff != "" {
		ss.s.log.Warn("shadow: "+diff+" -- "+lr.Msg(),
			"client", ss.src.String(), "file", ss.snap.origin.Path, "candidate", ss.snap.shadow.Origin().Path)
	}
	if !d.Permit {
		ss.s.log.Info(logline.Refused(*lr), ss.decisionAttrs(d)...)
	}
}

// recordHit counts one decision in the snapshot's per-line counters. The
// session's accept time stands for the decision's time (the request is
// decided moments later) so that counting does not read the clock; a UDP
// association decides during its whole life, so its datagram checks do.
func (ss *session) recordHit(req *policy.Request, d *policy.Decision) {
	now := ss.start
	if req.Command == policy.CmdUDP {
		now = time.Now()
	}
	ss.snap.hits.Record(d, req.Command, now)
}

func (ss *session) decisionAttrs(d *policy.Decision) []any {
	line := 0 // the implicit final deny
	if d.Rule != nil {
		line = d.Rule.Pos.Line
	}
	return []any{"client", ss.src.String(), "file", ss.snap.origin.Path, "line", line}
}

// resolve looks a destination name up: the one address that is decided
// on and dialled (resolve.Addr: IPv4 first).
func (ss *session) resolve(name string) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ss.context(), ss.s.opts.ConnectTimeout)
	defer cancel()
	return resolve.Addr(ctx, ss.s.opts.Resolver, name)
}

// confirmedNames returns ip's forward-confirmed reverse names (at most 20,
// as 4.3), for name patterns in the rules.
func (s *Server) confirmedNames(ip netip.Addr) []string {
	ctx, cancel := context.WithTimeout(s.kill, s.opts.IdentTimeout)
	defer cancel()
	return resolve.ConfirmedNames(ctx, s.opts.Resolver, ip, 20)
}
