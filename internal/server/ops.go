package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/internal/systemd"
)

// reloadStarting and reloadDone bracket Reload: the metrics count it and a
// service manager is told (sd_notify RELOADING=1 ... READY=1), so that
// "systemctl status" shows the reload and its result.
func (s *Server) reloadStarting() {
	if s.opts.Notify != nil {
		s.opts.Notify(systemd.Reloading())
	}
}

func (s *Server) reloadDone(err error) {
	s.metrics.Reloaded(err)
	if err == nil {
		snap := s.snap.Load()
		s.metrics.Loaded(snap.origin, snap.routeOrigin)
	}
	if s.opts.Notify != nil {
		status := "STATUS=serving, configuration reloaded"
		if err != nil {
			status = "STATUS=serving, reload failed (previous configuration kept): " + oneLine(err.Error())
		}
		s.opts.Notify("READY=1\n" + status)
	}
}

func oneLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i] + " ..."
		}
	}
	return s
}

// Closing reports whether the server has stopped accepting (it is
// draining or stopped): the health check then fails, so that a load
// balancer sends new clients elsewhere.
func (s *Server) Closing() bool { return s.isClosing() }

// OpsHandler serves /metrics (Prometheus text format from gatherer) and
// /healthz: 200 "ok" while the server accepts connections, 503 "draining"
// once it has stopped accepting.
func (s *Server) OpsHandler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	if gatherer != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if s.Closing() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "draining\n")
			return
		}
		snap := s.snap.Load()
		fmt.Fprintf(w, "ok %s %s\n", snap.origin.Path, snap.origin.Checksum)
	})
	return mux
}

// OpsLimits bound what clients of the metrics endpoint can make the daemon
// hold: each connection is a descriptor from the daemon's own limit, so an
// idle or slow one is closed and their number is capped (excess
// connections wait in the listen backlog until one ends).
type OpsLimits struct {
	ReadTimeout  time.Duration // reading one request, headers and body
	WriteTimeout time.Duration // writing one answer
	IdleTimeout  time.Duration // a keep-alive connection between requests
	MaxConns     int           // connections served at once
}

// DefaultOpsLimits are the metrics endpoint's limits: a scrape takes well
// under a second, Prometheus scrapes every 15 s to 1 min and reconnects at
// no cost, and a handful of scrapers and health checks is all it serves.
var DefaultOpsLimits = OpsLimits{
	ReadTimeout:  10 * time.Second,
	WriteTimeout: 30 * time.Second,
	IdleTimeout:  60 * time.Second,
	MaxConns:     32,
}

// ServeOps serves OpsHandler on ln until ln is closed, within
// DefaultOpsLimits.
func (s *Server) ServeOps(ln net.Listener, gatherer prometheus.Gatherer) error {
	return s.ServeOpsWithin(ln, gatherer, DefaultOpsLimits)
}

// ServeOpsWithin serves OpsHandler on ln until ln is closed, within lim.
func (s *Server) ServeOpsWithin(ln net.Listener, gatherer prometheus.Gatherer, lim OpsLimits) error {
	srv := &http.Server{
		Handler:           s.OpsHandler(gatherer),
		ReadHeaderTimeout: lim.ReadTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
	}
	if lim.MaxConns > 0 {
		ln = netutil.LimitListener(ln, lim.MaxConns)
	}
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// CheckReport writes what "sockd -t" says about the files loaded: every
// warning with its position, then one summary line per file.
func (s *Server) CheckReport(w io.Writer) {
	snap := s.snap.Load()
	if len(snap.origin.Warnings) > 0 {
		snap.origin.Warnings.WriteText(w)
	}
	for _, o := range []load.Origin{snap.origin, snap.routeOrigin} {
		if st := o.StaleWarning(); st != "" {
			fmt.Fprintln(w, st)
		}
	}
	what := "rules"
	if snap.origin.Embedded {
		what = "rules (the embedded default: loopback clients only)"
	}
	fmt.Fprintf(w, "%s: %d %s, ok (sha256 %s)\n", snap.origin.Path, len(snap.conf.Rules), what, snap.origin.Checksum)
	if sh := snap.shadow; sh != nil {
		fmt.Fprintf(w, "%s: %d shadow rules, ok (sha256 %s)\n", sh.Origin().Path, sh.Len(), sh.Origin().Checksum)
	}
	if snap.routes != nil {
		fmt.Fprintf(w, "%s: %d routes, ok (sha256 %s)\n", snap.routeOrigin.Path, len(snap.routes.Routes), snap.routeOrigin.Checksum)
	}
	if snap.passwords != nil {
		fmt.Fprintf(w, "%s: %d users, ok\n", snap.passwords.Source, snap.passwords.Len())
	}
}

// WriteEffective writes the effective rules, routes and the files they
// came from as canonical text: what "sockd -T" prints and SIGUSR1 logs.
func (s *Server) WriteEffective(w io.Writer) error {
	snap := s.snap.Load()
	fmt.Fprintf(w, "# rules: %s (sha256 %s, %d rules", snap.origin.Path, snap.origin.Checksum, len(snap.conf.Rules))
	if snap.origin.Frozen {
		fmt.Fprint(w, ", frozen")
	}
	fmt.Fprintln(w, ")")
	if err := config.WriteSockd(w, snap.conf); err != nil {
		return err
	}
	if snap.routes == nil {
		fmt.Fprintln(w, "# routes: none (the system chooses the interface)")
	} else {
		fmt.Fprintf(w, "# routes: %s (sha256 %s, %d routes)\n", snap.routeOrigin.Path, snap.routeOrigin.Checksum, len(snap.routes.Routes))
		if err := config.WriteRoute(w, snap.routes); err != nil {
			return err
		}
	}
	if snap.passwords != nil {
		fmt.Fprintf(w, "# passwords: %s (%d users)\n", snap.passwords.Source, snap.passwords.Len())
	}
	fmt.Fprintf(w, "# SOCKS5 methods: %v; identd mode: %v\n", s.opts.Methods, s.opts.IdentMode)
	return nil
}
