package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/acceptgate"
	"github.com/sockd/sockd/internal/auth"
	"github.com/sockd/sockd/internal/clientconf"
	"github.com/sockd/sockd/internal/diag"
	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/internal/metrics"
	"github.com/sockd/sockd/internal/ownaddrs"
	"github.com/sockd/sockd/internal/relay"
	"github.com/sockd/sockd/internal/route"
	"github.com/sockd/sockd/internal/rulecmd"
	"github.com/sockd/sockd/internal/shadow"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// snapshot is one consistent configuration: it never changes once built.
type snapshot struct {
	policy      *policy.Policy
	conf        *config.SockdConf
	origin      load.Origin
	routes      *config.RouteConf // nil without a route file
	routeTable  *route.Table      // routes compiled; nil without a route file
	routeOrigin load.Origin
	passwords   *auth.Passwords   // nil without a password file
	client      *clientconf.Conf  // rsockd mode (upstream.go): nil means direct connections
	hits        *policy.Hits      // per-line counters since this snapshot's load
	shadow      *shadow.Candidate // --shadow candidate rules, nil without
}

// Server is the daemon. Create it with New; it is safe for concurrent use.
type Server struct {
	opts     Options
	log      *slog.Logger
	snap     atomic.Pointer[snapshot]
	services map[uint16]string
	commands *rulecmd.Runner
	pid      int
	metrics  *metrics.Metrics // nil when off

	pwGuard atomic.Pointer[auth.Guard] // bounds password checks (authpolicy.go)

	active   atomic.Int64   // sessions running
	sessions sync.WaitGroup // every session goroutine

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	closing   bool
	own       atomic.Pointer[ownaddrs.Set] // of listeners (ownaddrs.go)

	loops  loops         // the event loops serving plain listeners (loop_linux.go)
	relays *relay.Relays // the goroutines sessions and relays run on (internal/relay)

	// reloadTimeout and reloadLoad are DefaultReloadTimeout and
	// loadSnapshot; a test replaces them, before the signal loop starts,
	// to make a load outlive its deadline. stuckReloads counts the loads
	// that did (reload.go).
	reloadTimeout time.Duration
	reloadLoad    func(*Server) (*snapshot, error)
	stuckReloads  atomic.Int32

	// kill is cancelled when the drain deadline passes: every session
	// closes its connections.
	kill       context.Context
	killCancel context.CancelFunc
}

// New loads every file and returns a Server ready to serve. An error in any
// file is returned with its diagnostics (a diag.List, found by errors.As).
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	for _, m := range opts.Methods {
		if m != socks.MethodNoAuth && m != socks.MethodUserPass {
			return nil, fmt.Errorf("unsupported SOCKS5 method %v", m)
		}
		if m == socks.MethodUserPass && opts.PasswdPath == "" && opts.SystemPasswords == nil {
			return nil, errors.New("username/password authentication needs a password file (--passwd) or the host's accounts (--auth-system)")
		}
	}
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		pid:       os.Getpid(),
		listeners: make(map[net.Listener]struct{}),
		relays:    relay.New(),

		reloadTimeout: DefaultReloadTimeout,
		reloadLoad:    (*Server).loadSnapshot,
	}
	s.kill, s.killCancel = context.WithCancel(context.Background())
	s.metrics = metrics.New(opts.Metrics, s.active.Load, func() metrics.Rules {
		snap := s.snap.Load()
		return metrics.Rules{Conf: snap.conf, Hits: snap.hits, Shadow: snap.shadow}
	})
	s.commands = rulecmd.New(opts.MaxCommands, opts.CommandTimeout, s.log)
	if data, err := os.ReadFile("/etc/services"); err == nil {
		s.services = policy.ParseServices(data)
	}
	snap, err := s.loadSnapshot()
	if err != nil {
		return nil, err
	}
	s.snap.Store(snap)
	s.logLoaded(snap)
	s.metrics.Loaded(snap.origin, snap.routeOrigin)
	return s, nil
}

// loadSnapshot reads every file and compiles the rules; it changes nothing.
func (s *Server) loadSnapshot() (*snapshot, error) {
	snap := &snapshot{}
	var err error
	switch {
	case s.opts.ConfigPath == "" && s.opts.DefaultRules != nil:
		snap.conf, snap.origin, err = load.SockdText(s.opts.DefaultRulesName, s.opts.DefaultRules, s.opts.GrammarOptions)
	case s.opts.ConfigPath == "":
		snap.conf, snap.origin, err = load.DefaultSockd(s.opts.GrammarOptions)
	default:
		snap.conf, snap.origin, err = load.Sockd(s.opts.ConfigPath, s.opts.GrammarOptions)
	}
	if err != nil {
		return nil, err
	}
	popts := policy.Options{IdentMode: s.opts.IdentMode, Pid: s.pid}
	snap.policy, err = policy.New(snap.conf, popts)
	if err != nil {
		return nil, err
	}
	snap.hits = policy.NewHits(len(snap.conf.Rules), time.Now())
	if s.opts.ShadowPath != "" {
		if snap.shadow, err = shadow.Load(s.opts.ShadowPath, s.opts.GrammarOptions, popts); err != nil {
			return nil, err
		}
	}
	if routePath := s.routePath(); routePath != "" {
		snap.routes, snap.routeOrigin, err = load.Route(routePath, s.opts.GrammarOptions)
		if err != nil {
			return nil, err
		}
		if snap.routeTable, err = route.Compile(snap.routes); err != nil {
			return nil, err
		}
	}
	if s.opts.PasswdPath != "" {
		snap.passwords, err = auth.Load(s.opts.PasswdPath)
		if err != nil {
			return nil, err
		}
	}
	if err := s.loadClient(snap); err != nil {
		return nil, err
	}
	return snap, nil
}

// routePath is the route file to load: --route, else the first of 4.3's
// defaults that exists (an existing /etc/sockd.fr must not be ignored), else
// "" for none.
func (s *Server) routePath() string {
	if s.opts.RoutePath != "" {
		return s.opts.RoutePath
	}
	defaults := s.opts.routeDefaults
	if defaults == nil {
		defaults = []string{load.SockdFR, load.SockdRoute}
	}
	p, _ := load.FindFirst(defaults...)
	return p
}

func (s *Server) logLoaded(snap *snapshot) {
	s.log.Info("configuration loaded", "file", snap.origin.Path, "checksum", snap.origin.Checksum,
		"frozen", snap.origin.Frozen, "rules", len(snap.conf.Rules))
	if snap.origin.Embedded {
		s.log.Warn("no /etc/sockd.fc or /etc/sockd.conf: using the embedded default, which permits loopback clients only")
	}
	if w := snap.origin.StaleWarning(); w != "" {
		s.log.Warn(w)
	}
	for _, d := range snap.origin.Warnings {
		s.log.Warn(d.Header())
	}
	if snap.routes != nil {
		s.log.Info("routes loaded", "file", snap.routeOrigin.Path, "checksum", snap.routeOrigin.Checksum, "routes", len(snap.routes.Routes))
		if w := snap.routeOrigin.StaleWarning(); w != "" {
			s.log.Warn(w)
		}
	}
	if snap.passwords != nil {
		s.log.Info("passwords loaded", "file", snap.passwords.Source, "users", snap.passwords.Len())
	}
	snap.client.LogLoaded(s.log)
}

// Reload rereads every file (configuration, routes, passwords) and swaps
// the new snapshot in only if all of them loaded; on any error the rules in
// force stay, and the error with its diagnostics is logged and returned.
// Sessions already running keep the snapshot they started with.
func (s *Server) Reload() (err error) {
	s.reloadStarting()
	defer func() { s.reloadDone(err) }()
	snap, err := s.loadSnapshot()
	if err != nil {
		s.logLoadError("reload failed, keeping the configuration in force", err)
		return err
	}
	s.snap.Store(snap)
	s.logLoaded(snap)
	s.warnOpenListeners(snap)
	return nil
}

func (s *Server) logLoadError(what string, err error) {
	if l := diag.List(nil); errors.As(err, &l) {
		s.log.Error(what, "diagnostics", len(l))
		for _, d := range l {
			s.log.Error(d.Header(), "source", d.Source)
		}
		return
	}
	s.log.Error(what, "err", err)
}

// Active is the number of sessions running.
func (s *Server) Active() int { return int(s.active.Load()) }

// admit counts a new session in unless MaxClients are running already.
// The check and the count are one step: several accept loops (one per
// event loop, one per listener) admit at once, and a check followed by
// an add would let each of them take the last slot.
func (s *Server) admit() bool {
	max := int64(s.opts.MaxClients)
	for {
		n := s.active.Load()
		if max > 0 && n >= max {
			return false
		}
		if s.active.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// logOverLimit logs a client refused beyond MaxClients (acceptReset).
func (s *Server) logOverLimit(src string) {
	s.log.Warn("too many clients, connection closed", "client", src, "max", s.opts.MaxClients)
}

// Serve accepts connections on ln until Shutdown or a permanent accept
// error. Running out of descriptors makes it pause (doubling from 5 ms to
// 1 s) instead of spinning. On Linux a *net.TCPListener is served by the
// event loops (loop_linux.go), which take a duplicate of its socket and
// close ln itself: stop Serve with Close, Shutdown or Kill, not ln.Close.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, nil) }

// serve is Serve; lo is nil for a plain listener (see ServeListener).
func (s *Server) serve(ln net.Listener, lo *ListenerOptions) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	s.listeners[ln] = struct{}{}
	s.listenersChanged()
	s.mu.Unlock()
	s.warnIfOpen(ln.Addr(), s.snap.Load())
	if lo == nil && !s.opts.NoEventLoops {
		if served, err := s.serveLoops(ln); served {
			return err
		}
	}
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.listenersChanged()
		s.mu.Unlock()
	}()
	var backoff acceptgate.Backoff
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.Closing() {
				return nil
			}
			if acceptgate.OutOfDescriptors(err) || isTemporary(err) {
				pause := backoff.Next()
				s.log.Warn("accept failed, pausing", "err", err, "pause", pause.String())
				time.Sleep(pause)
				continue
			}
			return err
		}
		backoff.Reset()
		tc, ok := c.(*net.TCPConn)
		if !ok {
			c.Close()
			continue
		}
		switch s.screenAccepted(unmapAP(tc.RemoteAddr()), func() netip.AddrPort { return unmapAP(tc.LocalAddr()) }) {
		case acceptReset:
			tc.SetLinger(0)
			fallthrough
		case acceptClose:
			tc.Close()
			continue
		}
		// Counted in under s.mu, as Close sets closing, so that Shutdown's
		// Wait never starts before a session accepted just ahead of it is
		// counted (the loops' listeners have the same gate).
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			s.active.Add(-1)
			tc.Close()
			return nil
		}
		s.sessions.Add(1)
		s.mu.Unlock()
		s.relays.Go(func() { s.serveConn(tc, lo) }) // the session counts itself out when it ends
	}
}

// ServeConn serves one connection in the calling goroutine: inetd mode.
func (s *Server) ServeConn(c *net.TCPConn) {
	s.active.Add(1)
	s.sessions.Add(1)
	<-s.serveConn(c, nil)
}

// Closing reports whether the server has stopped accepting (it is
// draining or stopped): the health check then fails, so that a load
// balancer sends new clients elsewhere.
func (s *Server) Closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Close stops accepting: every listener given to Serve is closed.
func (s *Server) Close() {
	s.mu.Lock()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
}

// Shutdown stops accepting and waits for running sessions to finish until
// ctx is done; then it closes every session's connections and waits for
// the goroutines to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Close()
	done := make(chan struct{})
	go func() {
		s.sessions.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.log.Warn("drain deadline passed, closing the remaining sessions", "sessions", s.Active())
	s.killCancel()
	<-done
	return ctx.Err()
}

// Kill closes every session at once (the second SIGTERM).
func (s *Server) Kill() {
	s.Close()
	s.killCancel()
}

func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

func portString(p uint16) string { return strconv.Itoa(int(p)) }
