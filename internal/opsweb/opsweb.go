// Package opsweb is the daemon's operations endpoint over HTTP:
// /metrics (the Prometheus text format) and /healthz (200 "ok" with the
// rules file in force while the daemon accepts, 503 "draining" once it
// has stopped), within limits that bound what its clients can make the
// daemon hold.
//
// It serves what it is given and knows nothing of sessions: the series
// are recorded by the server (internal/server's metrics.go), and the
// reports of "sockd -t" and "-T" are written by the server too
// (report.go). The command line (internal/cli) binds --metrics-listen
// and calls Serve.
package opsweb

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
)

// Daemon is what the health check asks: internal/server's *Server.
type Daemon interface {
	// Closing reports whether the daemon has stopped accepting (it is
	// draining or stopped).
	Closing() bool
	// RulesFile is the rules file in force and its checksum.
	RulesFile() (path, checksum string)
}

// Handler serves /metrics (Prometheus text format from gatherer; none
// when gatherer is nil) and /healthz: 200 "ok" while d accepts
// connections, 503 "draining" once it has stopped accepting, so that a
// load balancer sends new clients elsewhere.
func Handler(d Daemon, gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	if gatherer != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if d.Closing() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "draining\n")
			return
		}
		path, checksum := d.RulesFile()
		fmt.Fprintf(w, "ok %s %s\n", path, checksum)
	})
	return mux
}

// Limits bound what clients of the metrics endpoint can make the daemon
// hold: each connection is a descriptor from the daemon's own limit, so an
// idle or slow one is closed and their number is capped (excess
// connections wait in the listen backlog until one ends).
type Limits struct {
	ReadTimeout  time.Duration // reading one request, headers and body
	WriteTimeout time.Duration // writing one answer
	IdleTimeout  time.Duration // a keep-alive connection between requests
	MaxConns     int           // connections served at once
}

// DefaultLimits are the metrics endpoint's limits: a scrape takes well
// under a second, Prometheus scrapes every 15 s to 1 min and reconnects at
// no cost, and a handful of scrapers and health checks is all it serves.
var DefaultLimits = Limits{
	ReadTimeout:  10 * time.Second,
	WriteTimeout: 30 * time.Second,
	IdleTimeout:  60 * time.Second,
	MaxConns:     32,
}

// Serve serves Handler on ln until ln is closed, within DefaultLimits.
func Serve(ln net.Listener, d Daemon, gatherer prometheus.Gatherer) error {
	return ServeWithin(ln, d, gatherer, DefaultLimits)
}

// ServeWithin serves Handler on ln until ln is closed, within lim.
func ServeWithin(ln net.Listener, d Daemon, gatherer prometheus.Gatherer, lim Limits) error {
	srv := &http.Server{
		Handler:           Handler(d, gatherer),
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
