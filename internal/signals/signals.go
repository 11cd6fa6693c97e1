// Package signals is the one signal loop of a daemon (or worker)
// process: SIGHUP reopens the log and then reloads, SIGUSR1 dumps the
// configuration, SIGTERM and SIGINT drain, a second one closes every
// session at once. Being the only code of the process that takes those
// signals, it orders the log reopen before the reload, so the two cannot
// race.
//
// It acts on the server (internal/server) through the small Daemon
// interface and knows nothing else of it; internal/daemon starts it with
// the daemon's hooks (the log reopen, the service manager's STOPPING=1).
// The supervisor of several workers has its own loop
// (internal/supervisor).
package signals

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Daemon is what the signal loop acts on: internal/server's *Server.
type Daemon interface {
	// ReloadWithDeadline rereads every file, giving up at the daemon's
	// reload deadline; on any failure the rules in force stay.
	ReloadWithDeadline() error
	// DumpConfig writes the configuration in force to the log (SIGUSR1).
	DumpConfig()
	// Active is the number of sessions running.
	Active() int
	// Shutdown stops accepting and drains the sessions until ctx is done,
	// then closes what is left.
	Shutdown(ctx context.Context) error
	// Logger is the daemon's log, where the loop says what it does.
	Logger() *slog.Logger
}

// Hooks is what the daemon's process adds to its one signal loop.
// The loop is the only one in a daemon (or worker) process that takes
// SIGHUP, SIGTERM and SIGINT, so that a log reopen and a reload cannot
// race: the reopen always comes first, and the reload's lines land in the
// new file.
type Hooks struct {
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

// Handle starts the signal loop of d and returns a channel closed
// when it ends: when ctx is done, or when a terminating signal has drained
// d. SIGHUP reopens the log and then reloads (on its own goroutine, the
// reload within d's reload deadline, so a slow or failed reload never
// holds the loop), SIGUSR1 dumps the configuration, SIGTERM/SIGINT stop
// accepting and drain for up to drain, and a second SIGTERM/SIGINT closes
// every session at once. The signals are registered before it returns, so
// a signal sent afterwards is never lost to the default action.
func Handle(ctx context.Context, d Daemon, drain time.Duration, h Hooks) <-chan struct{} {
	notify, stop := h.notify, h.stop
	if notify == nil {
		notify, stop = signal.Notify, signal.Stop
	}
	log := d.Logger()
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
				log.Info(msg)
				_ = d.ReloadWithDeadline()
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
						log.Info("SIGHUP: a reload is running; another follows it")
						continue
					}
					reload("SIGHUP: reloading")
				case syscall.SIGUSR1:
					d.DumpConfig()
				default:
					if h.Stopping != nil {
						h.Stopping()
					}
					drainOnSignal(d, log, sig, ch, drain)
					return
				}
			}
		}
	}()
	return done
}

func drainOnSignal(d Daemon, log *slog.Logger, sig os.Signal, ch <-chan os.Signal, drain time.Duration) {
	log.Info("shutting down: draining sessions", "signal", sig.String(), "sessions", d.Active(), "deadline", drain.String())
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	go func() {
		select {
		case <-ch: // a second signal: no more waiting
			log.Warn("second signal: closing every session now")
			cancel()
		case <-dctx.Done():
		}
	}()
	_ = d.Shutdown(dctx)
}
