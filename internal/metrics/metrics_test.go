package metrics

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

func newTestMetrics(t *testing.T) *Metrics {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m := New(reg, func() int64 { return 0 }, func() Rules { return Rules{} })
	if m == nil {
		t.Fatal("New with a registry returned nil")
	}
	return m
}

// value reads the series of c whose label values are lvs (in any order);
// it fails the test when there is none.
func value(t *testing.T, c prometheus.Collector, lvs ...string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(lvs) {
				continue
			}
			for _, l := range m.GetLabel() {
				if !slices.Contains(lvs, l.GetValue()) {
					continue series
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %v", lvs)
	return 0
}

// count is the number of series c has.
func count(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 64)
	c.Collect(ch)
	close(ch)
	return len(ch)
}

// TestIdentdOutcomeLabels: each identd outcome of a decision is counted
// under its label, and a decision that did not ask identd is not counted.
func TestIdentdOutcomeLabels(t *testing.T) {
	t.Parallel()
	m := newTestMetrics(t)
	for _, tc := range []struct {
		outcome policy.IdentOutcome
		label   string
	}{
		{policy.IdentConfirmed, "user"},
		{policy.IdentMismatch, "mismatch"},
		{policy.IdentUnreachable, "unreachable"},
		{policy.IdentMalformed, "malformed"},
		{policy.IdentFailed, "error"},
	} {
		var o Session
		m.Decided(&o, time.Now(), "sockd.conf", &policy.Request{Command: policy.CmdConnect},
			&policy.Decision{Permit: true, Ident: tc.outcome})
		if got := value(t, m.identd, tc.label); got != 1 {
			t.Errorf("outcome %d: %s counted %v times, want 1", tc.outcome, tc.label, got)
		}
	}
	var o Session
	m.Decided(&o, time.Now(), "sockd.conf", &policy.Request{Command: policy.CmdConnect}, &policy.Decision{Permit: true})
	if n := count(m.identd); n != 5 {
		t.Errorf("%d identd series after a decision that did not ask, want 5", n)
	}
}

// TestSessionSeries follows sessions through their hooks to the labels
// they end under.
func TestSessionSeries(t *testing.T) {
	t.Parallel()
	m := newTestMetrics(t)
	rule := &config.Rule{Pos: config.Pos{Line: 7}}

	v4a := Session{Version: socks.Version4}
	m.Decided(&v4a, time.Now(), "f", &policy.Request{Command: policy.CmdConnect, DstName: "host.example"}, &policy.Decision{Rule: rule})
	m.SessionEnded(&v4a)

	v5 := Session{Version: socks.Version5}
	m.Decided(&v5, time.Now(), "f", &policy.Request{Command: policy.CmdBind}, &policy.Decision{Permit: true})
	m.RelayEnded(&v5, 3, 4)
	m.SessionEnded(&v5)

	failed := Session{Version: socks.Version5}
	m.Decided(&failed, time.Now(), "f", &policy.Request{Command: policy.CmdConnect}, &policy.Decision{Permit: true})
	m.Failed(&failed, "connect", syscall.ECONNREFUSED)
	m.SessionEnded(&failed)

	var early Session
	m.SessionEnded(&early)

	for series, want := range map[[3]string]float64{
		{"socks4a", "connect", "refused"}: 1,
		{"socks5", "bind", "relayed"}:     1,
		{"socks5", "connect", "failed"}:   1,
		{"unknown", "none", "error"}:      1,
	} {
		if got := value(t, m.sessions, series[:]...); got != want {
			t.Errorf("sessions %v = %v, want %v", series, got, want)
		}
	}
	if got := value(t, m.refusals, "f:7"); got != 1 {
		t.Errorf("refusals f:7 = %v", got)
	}
	if got := value(t, m.bytes, "from_destination"); got != 4 {
		t.Errorf("bytes from_destination = %v", got)
	}
	if got := value(t, m.upstream, "connect", "refused"); got != 1 {
		t.Errorf("upstream connect refused = %v", got)
	}
	if n := count(m.handshake); n != 2 {
		t.Errorf("%d handshake series, want socks4a and socks5", n)
	}
}

func TestFailureReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{os.ErrDeadlineExceeded, "timeout"},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "refused"},
		{fmt.Errorf("dial: %w", syscall.ENETUNREACH), "unreachable"},
		{syscall.EHOSTUNREACH, "unreachable"},
		{&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, "dns"},
		{errors.New("something else"), "other"},
	} {
		if got := failureReason(tc.err); got != tc.want {
			t.Errorf("failureReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestNilMetrics: metrics that are off record nothing and do not panic.
func TestNilMetrics(t *testing.T) {
	t.Parallel()
	var m *Metrics
	if New(nil, nil, nil) != nil {
		t.Fatal("New without a registry is not nil")
	}
	var o Session
	m.Decided(&o, time.Now(), "f", &policy.Request{}, &policy.Decision{Ident: policy.IdentMismatch})
	m.Connected(time.Now())
	m.Failed(&o, "connect", errors.New("x"))
	m.RelayEnded(&o, 1, 1)
	m.SessionEnded(&o)
	m.Loaded(load.Origin{Path: "r"}, load.Origin{})
	m.Reloaded(nil)
	m.ProxyHeader("local")
	if o != (Session{}) {
		t.Errorf("a nil *Metrics changed the session: %+v", o)
	}
}

// TestLoadedRoutes: config_info names the rules in force, and the routes
// only when there is a route file; a reload replaces the series.
func TestLoadedRoutes(t *testing.T) {
	t.Parallel()
	m := newTestMetrics(t)
	m.Loaded(load.Origin{Path: "sockd.conf", Checksum: "aa"}, load.Origin{Path: "sockd.route", Checksum: "bb"})
	if n := count(m.configInfo); n != 2 {
		t.Errorf("%d config_info series with a route file, want 2", n)
	}
	m.Loaded(load.Origin{Path: "sockd.conf", Checksum: "cc"}, load.Origin{})
	if n := count(m.configInfo); n != 1 {
		t.Errorf("%d config_info series without a route file, want 1", n)
	}
	if got := value(t, m.configInfo, "rules", "sockd.conf", "cc"); got != 1 {
		t.Errorf("config_info for the reloaded rules = %v", got)
	}
}
