package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/atomicfile"
)

// DumpConfig writes the effective rules and routes to the log as canonical
// text, one log entry per line, with the file and checksum they came from
// (SIGUSR1).
func (s *Server) DumpConfig() {
	snap := s.snap.Load()
	defer snap.client.Dump(s.log) // rsockd mode: the socks.conf routes too
	var b bytes.Buffer
	if err := config.WriteSockd(&b, snap.conf); err != nil {
		s.log.Error("cannot print the configuration", "err", err)
		return
	}
	s.log.Info("effective configuration", "file", snap.origin.Path, "checksum", snap.origin.Checksum, "rules", len(snap.conf.Rules))
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		s.log.Info("config: "+line, "file", snap.origin.Path)
	}
	for _, line := range snap.hits.Report(snap.conf.Rules) {
		s.log.Info(line, "file", snap.origin.Path)
	}
	if snap.routes == nil {
		s.log.Info("no route file: the system chooses the interface")
		return
	}
	b.Reset()
	if err := config.WriteRoute(&b, snap.routes); err != nil {
		s.log.Error("cannot print the routes", "err", err)
		return
	}
	s.log.Info("effective routes", "file", snap.routeOrigin.Path, "checksum", snap.routeOrigin.Checksum, "routes", len(snap.routes.Routes))
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		s.log.Info("route: "+line, "file", snap.routeOrigin.Path)
	}
}

// SignalHooks is what the daemon's process adds to its one signal loop.
// The loop is the only one in a daemon (or worker) process that takes
// SIGHUP, SIGTERM and SIGINT, so that a log reopen and a reload cannot
// race: the reopen always comes first, and the reload's lines land in the
// new file.
type SignalHooks struct {
	// ReopenLog starts a new log file (logrotate moved the old one); it
	// runs on each reload SIGHUP asks for, before the reload.
	ReopenLog func()
	// Stopping runs when a terminating signal starts the drain (the
	// service manager hears STOPPING=1).
	Stopping func()

	// notify registers the loop's channel: signal.Notify, or a test's
	// fake that feeds it signals and counts the registrations.
	notify func(c chan<- os.Signal, sig ...os.Signal)
	stop   func(c chan<- os.Signal)
}

// HandleSignals is HandleSignalsWith without hooks.
func (s *Server) HandleSignals(ctx context.Context, drain time.Duration) <-chan struct{} {
	return s.HandleSignalsWith(ctx, drain, SignalHooks{})
}

// HandleSignalsWith starts the signal loop and returns a channel closed
// when it ends: when ctx is done, or when a terminating signal has drained
// the server. SIGHUP reopens the log and then reloads (on its own
// goroutine, the reload within reloadTimeout, so a slow or failed reload
// never holds the loop), SIGUSR1 dumps the configuration, SIGTERM/SIGINT
// stop accepting and drain for up to drain, and a second SIGTERM/SIGINT
// closes every session at once. The signals are registered before it
// returns, so a signal sent afterwards is never lost to the default action.
func (s *Server) HandleSignalsWith(ctx context.Context, drain time.Duration, h SignalHooks) <-chan struct{} {
	notify, stop := h.notify, h.stop
	if notify == nil {
		notify, stop = signal.Notify, signal.Stop
	}
	ch := make(chan os.Signal, 4)
	notify(ch, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer stop(ch)
		// A reload runs on its own goroutine, with a deadline, so that
		// the loop always answers the next signal; SIGHUPs during a
		// reload ask for one more reload after it, not one each. The log
		// is reopened on that goroutine too, first: a file system that
		// hangs cannot hold the loop, and a SIGHUP that comes while a
		// reload runs (logrotate's, say) still gets its reopen, before
		// the reload that follows.
		reloaded := make(chan struct{}, 1)
		reloading, again := false, false
		reload := func(msg string) {
			reloading = true
			go func() {
				if h.ReopenLog != nil {
					h.ReopenLog()
				}
				s.log.Info(msg)
				_ = s.reloadWithin(s.reloadTimeout)
				reloaded <- struct{}{}
			}()
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-reloaded:
				reloading = false
				if again {
					again = false
					reload("SIGHUP: reloading again (asked during the last reload)")
				}
			case sig := <-ch:
				switch sig {
				case syscall.SIGHUP:
					if reloading {
						again = true
						s.log.Info("SIGHUP: a reload is running; another follows it")
						continue
					}
					reload("SIGHUP: reloading")
				case syscall.SIGUSR1:
					s.DumpConfig()
				default:
					if h.Stopping != nil {
						h.Stopping()
					}
					s.drainOnSignal(sig, ch, drain)
					return
				}
			}
		}
	}()
	return done
}

func (s *Server) drainOnSignal(sig os.Signal, ch <-chan os.Signal, drain time.Duration) {
	s.log.Info("shutting down: draining sessions", "signal", sig.String(), "sessions", s.Active(), "deadline", drain.String())
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	go func() {
		select {
		case <-ch: // a second signal: no more waiting
			s.log.Warn("second signal: closing every session now")
			cancel()
		case <-dctx.Done():
		}
	}()
	_ = s.Shutdown(dctx)
}

// RaiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit: every
// relayed connection needs two descriptors.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

// WritePidFile writes the process id atomically (package atomicfile), so
// a reader never sees a partial number; the returned function removes it.
func WritePidFile(path string) (remove func(), err error) {
	if err := atomicfile.WriteFile(path, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
		return nil, err
	}
	return func() {
		// Remove only our own file: another instance may have replaced it.
		if data, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(data)) == fmt.Sprint(os.Getpid()) {
			os.Remove(path)
		}
	}, nil
}

// errNotSocket: inetd mode needs a socket on standard input.
var errNotSocket = errors.New("standard input is not a TCP socket (--inetd expects the connection on fd 0)")

// ServeInetd serves the one connection inetd passed on standard input.
func (s *Server) ServeInetd() error {
	c, err := fileConn(os.Stdin)
	if err != nil {
		return err
	}
	if s.opts.AcceptCheck != nil && s.refusedAtAccept(c.RemoteAddr(), c.LocalAddr()) {
		c.Close() // as tcpd would have: the connection ends unanswered
		return nil
	}
	s.ServeConn(c)
	return nil
}
