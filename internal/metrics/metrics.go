package metrics

import (
	"errors"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// Metrics are the daemon's Prometheus series (namespace sockd). A nil
// *Metrics is valid and records nothing: metrics are off by default, and
// then each hook costs one nil check.
type Metrics struct {
	sessions       *prometheus.CounterVec   // protocol, command, outcome
	refusals       *prometheus.CounterVec   // rule (file:line)
	bytes          *prometheus.CounterVec   // direction
	handshake      *prometheus.HistogramVec // protocol
	connect        prometheus.Histogram
	identd         *prometheus.CounterVec // outcome
	upstream       *prometheus.CounterVec // op, reason
	reloads        *prometheus.CounterVec // outcome
	configInfo     *prometheus.GaugeVec   // kind, file, checksum
	lastReloadTime prometheus.Gauge
	proxyHeaders   *prometheus.CounterVec // outcome
}

// latencyBuckets span a loopback handshake (tens of µs) to a slow identd
// or DNS answer (seconds).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New registers the series with reg and returns them, or nil when reg is
// nil. active is the number of sessions running now; rules is the rule set
// in force, read at every scrape for the per-line series (hits.go).
func New(reg prometheus.Registerer, active func() int64, rules func() Rules) *Metrics {
	if reg == nil {
		return nil
	}
	const ns = "sockd"
	m := &Metrics{
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "sessions_total",
			Help: "Client sessions ended, by protocol (socks4, socks4a, socks5, unknown), command (connect, bind, udp, none) and outcome (relayed, permitted, refused, failed, error)."},
			[]string{"protocol", "command", "outcome"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "refusals_total",
			Help: "Requests refused, by the deciding rule as file:line (file:implicit-deny for the final deny no line names)."},
			[]string{"rule"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "relayed_bytes_total",
			Help: "Bytes relayed by ended sessions, by direction (from_client, from_destination)."},
			[]string{"direction"}),
		handshake: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "handshake_seconds",
			Help: "From accepting a client to deciding its request (authentication, DNS and identd included).", Buckets: latencyBuckets},
			[]string{"protocol"}),
		connect: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "connect_seconds",
			Help: "Connecting to a destination, successful or not.", Buckets: latencyBuckets}),
		identd: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "identd_queries_total",
			Help: "identd (RFC 1413) answers, by outcome (user, mismatch, unreachable, error, malformed)."},
			[]string{"outcome"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "upstream_failures_total",
			Help: "Failures reaching a destination, by operation (resolve, connect, bind, accept, ...) and reason (timeout, refused, unreachable, dns, other)."},
			[]string{"op", "reason"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "reloads_total",
			Help: "Configuration reloads (SIGHUP), by outcome (ok, failed)."},
			[]string{"outcome"}),
		configInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "config_info",
			Help: "1 for each file in force (kind rules or routes), with its SHA-256."},
			[]string{"kind", "file", "checksum"}),
		lastReloadTime: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "config_last_load_timestamp_seconds",
			Help: "When the configuration in force was loaded (Unix time)."}),
		proxyHeaders: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "proxy_headers_total",
			Help: "PROXY protocol headers on --proxy-protocol listeners, by outcome (proxied, local, invalid, untrusted)."},
			[]string{"outcome"}),
	}
	sessionsActive := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "sessions_active",
		Help: "Client sessions running now."}, func() float64 { return float64(active()) })
	reg.MustRegister(m.sessions, m.refusals, m.bytes, m.handshake, m.connect, m.identd, m.upstream,
		m.reloads, m.configInfo, m.lastReloadTime, m.proxyHeaders, sessionsActive, newHitsCollector(rules))
	// The zero series exist from the start, so that rate() and alerts on
	// "failed" work before the first failure.
	for _, o := range []string{"ok", "failed"} {
		m.reloads.WithLabelValues(o)
	}
	for _, d := range []string{"from_client", "from_destination"} {
		m.bytes.WithLabelValues(d)
	}
	return m
}

// Session is what one client session remembers for its series; its zero
// value is a session whose first byte is not read yet.
type Session struct {
	// Version is the first byte the client sent: 4 or 5; 0 before it was
	// read. The server sets it, and answers in that version.
	Version  byte
	socks4a  bool   // a SOCKS4 request carried a host name
	command  string // from the first decision
	outcome  string
	observed bool // the handshake latency was recorded
}

func (o *Session) protocol() string {
	switch {
	case o.Version == socks.Version4 && o.socks4a:
		return "socks4a"
	case o.Version == socks.Version4:
		return "socks4"
	case o.Version == socks.Version5:
		return "socks5"
	}
	return "unknown"
}

// Decided records one decision d of req under the rules of file, for the
// session o accepted at start (the handshake latency ends at its first
// decision).
func (m *Metrics) Decided(o *Session, start time.Time, file string, req *policy.Request, d *policy.Decision) {
	if m == nil {
		return
	}
	if o.command == "" {
		o.command = req.Command.String()
		o.socks4a = o.Version == socks.Version4 && req.DstName != ""
	}
	if !o.observed {
		o.observed = true
		m.handshake.WithLabelValues(o.protocol()).Observe(time.Since(start).Seconds())
	}
	if d.Permit {
		if o.outcome == "" {
			o.outcome = "permitted"
		}
	} else {
		o.outcome = "refused"
		rule := file + ":implicit-deny"
		if d.Rule != nil {
			rule = file + ":" + strconv.Itoa(d.Rule.Pos.Line)
		}
		m.refusals.WithLabelValues(rule).Inc()
	}
	if label := identLabel(d.Ident); label != "" {
		m.identd.WithLabelValues(label).Inc()
	}
}

// identLabel is the outcome label of sockd_identd_queries_total, "" when
// identd was not asked.
func identLabel(o policy.IdentOutcome) string {
	switch o {
	case policy.IdentConfirmed:
		return "user"
	case policy.IdentMismatch:
		return "mismatch"
	case policy.IdentUnreachable:
		return "unreachable"
	case policy.IdentMalformed:
		return "malformed"
	case policy.IdentFailed:
		return "error"
	}
	return ""
}

// Connected records a connect to a destination, successful or not,
// started at start.
func (m *Metrics) Connected(start time.Time) {
	if m != nil {
		m.connect.Observe(time.Since(start).Seconds())
	}
}

// Failed records that the session's operation op (resolve, connect,
// bind, accept, ...) failed with err.
func (m *Metrics) Failed(o *Session, op string, err error) {
	if m == nil {
		return
	}
	o.outcome = "failed"
	m.upstream.WithLabelValues(op, failureReason(err)).Inc()
}

// failureReason is the reason label of sockd_upstream_failures_total.
func failureReason(err error) string {
	var dnsErr *net.DNSError
	switch {
	case socks.IsTimeout(err):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "unreachable"
	case errors.As(err, &dnsErr):
		return "dns"
	}
	return "other"
}

// RelayEnded records the bytes the session's relay forwarded in each
// direction.
func (m *Metrics) RelayEnded(o *Session, fromClient, fromDst int64) {
	if m == nil {
		return
	}
	o.outcome = "relayed"
	m.bytes.WithLabelValues("from_client").Add(float64(fromClient))
	m.bytes.WithLabelValues("from_destination").Add(float64(fromDst))
}

// SessionEnded counts the session by its protocol, first command and
// outcome.
func (m *Metrics) SessionEnded(o *Session) {
	if m == nil {
		return
	}
	cmd, outcome := o.command, o.outcome
	if cmd == "" {
		cmd = "none"
	}
	if outcome == "" {
		outcome = "error" // the client went away or sent garbage before a decision
	}
	m.sessions.WithLabelValues(o.protocol(), cmd, outcome).Inc()
}

// Loaded publishes the checksums of the files in force: the rules, and
// the routes unless routes.Path is "" (no route file).
func (m *Metrics) Loaded(rules, routes load.Origin) {
	if m == nil {
		return
	}
	m.configInfo.Reset()
	m.configInfo.WithLabelValues("rules", rules.Path, rules.Checksum).Set(1)
	if routes.Path != "" {
		m.configInfo.WithLabelValues("routes", routes.Path, routes.Checksum).Set(1)
	}
	m.lastReloadTime.SetToCurrentTime()
}

// Reloaded counts a reload by its outcome (err nil: ok).
func (m *Metrics) Reloaded(err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.reloads.WithLabelValues("failed").Inc()
	} else {
		m.reloads.WithLabelValues("ok").Inc()
	}
}

// ProxyHeader counts a PROXY protocol header by its outcome (proxied,
// local, invalid, untrusted).
func (m *Metrics) ProxyHeader(outcome string) {
	if m != nil {
		m.proxyHeaders.WithLabelValues(outcome).Inc()
	}
}
