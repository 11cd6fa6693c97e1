package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/sockd/sockd/internal/server"
	"github.com/sockd/sockd/internal/signals"
)

// Serve serves lns until a signal (or, in a worker, the supervisor) stops
// the server, then drains for at most drain. start runs once the signal
// loop is up; its stop function runs when serving has ended, and an error
// from it closes the listeners unserved.
func (o *Ops) Serve(s *server.Server, lns []net.Listener, drain time.Duration, log *slog.Logger, start func() (stop func(), err error)) error {
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The process's one signal loop: no other code here takes SIGHUP,
	// SIGTERM or SIGINT, so the log reopen and the reload are in order.
	signalsDone := signals.Handle(ctx, s, drain, o.SignalHooks(log))
	stop, err := start()
	defer stop()
	if err != nil {
		closeAll()
		cancel()
		<-signalsDone
		return err
	}
	// Each listener is served until Shutdown (a signal) closes it, or until
	// one fails for good, which stops all of them as SIGTERM would.
	var wg sync.WaitGroup
	var errOnce sync.Once
	var serveErr error
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// net.ErrClosed: a stop came before this listener was served.
			if err := s.ServeListener(ln, o.ListenerOptions()); err != nil && !errors.Is(err, net.ErrClosed) {
				errOnce.Do(func() {
					serveErr = err
					log.Error("accept failed, shutting down", "address", ln.Addr().String(), "err", err)
					s.Close()
				})
			}
		}()
	}
	wg.Wait()
	cancel() // ends the signal loop if no signal did
	<-signalsDone
	dctx, dcancel := context.WithTimeout(context.Background(), drain)
	defer dcancel()
	s.Shutdown(dctx) // after a signal this returns at once: the sessions are drained
	log.Info("stopped")
	return serveErr
}
