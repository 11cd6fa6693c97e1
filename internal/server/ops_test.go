package server

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/opsweb"
	"github.com/sockd/sockd/internal/proxyproto"
	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
)

// scrape returns the /metrics text of h.
func scrape(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

// metricValue finds one series' value in the text format, "" if absent.
func metricValue(text, series string) string {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// v5Connect does a SOCKS5 CONNECT to dst and returns the reply code.
func v5Connect(t *testing.T, proxyAddr string, dst net.Addr) (*net.TCPConn, socks.V5ReplyCode) {
	t.Helper()
	c := dialProxy(t, proxyAddr)
	v5Handshake(t, c)
	v5Send(t, c, socks.V5Request{Command: socks.V5Connect, Dst: socks.AddrFromAddrPort(dst.(*net.TCPAddr).AddrPort())})
	return c, readV5Reply(t, c).Code
}

// TestMetrics: sessions, refusals by rule, bytes, latencies, reloads and
// the checksum of the file in force appear under sockd_, and /healthz
// follows the server from serving to draining.
func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	notes := make(chan string, 8)
	ts := startServer(t, "permit 127.0.0.1 255.255.255.255 0.0.0.0 0.0.0.0 eq 7\ndeny 127.0.0.0 255.0.0.0\n", func(o *Options) {
		o.Metrics = reg
		o.Notify = func(s string) { notes <- s }
	})
	h := opsweb.Handler(ts, reg)
	echo := echoTarget(t, "tcp", "127.0.0.1:0")

	// One permitted relay: the echo port is not 7, so move the rule's port
	// out of the way by connecting to a denied port first.
	c, code := v5Connect(t, ts.addr, echo.Addr())
	if code != socks.V5NotAllowed {
		t.Fatalf("reply %v, want not allowed", code)
	}
	c.Close()
	waitFor(t, "refused session counted", func() bool {
		_, text := scrape(t, h, "/metrics")
		return metricValue(text, `sockd_sessions_total{command="connect",outcome="refused",protocol="socks5"}`) == "1"
	})
	_, text := scrape(t, h, "/metrics")
	if v := metricValue(text, `sockd_refusals_total{rule="`+ts.confPath+`:2"}`); v != "1" {
		t.Errorf("refusal by line 2 = %q\n%s", v, text)
	}
	if v := metricValue(text, `sockd_handshake_seconds_count{protocol="socks5"}`); v != "1" {
		t.Errorf("handshake histogram count = %q", v)
	}

	// Rewrite the rules to permit the echo port, reload, relay some bytes.
	_, port := hostPort(t, echo.Addr().String())
	os.WriteFile(ts.confPath, []byte("permit 127.0.0.1 255.255.255.255 0.0.0.0 0.0.0.0 eq "+portString(port)+"\n"), 0o600)
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := <-notes; !strings.HasPrefix(n, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("first notification %q", n)
	}
	if n := <-notes; !strings.HasPrefix(n, "READY=1\nSTATUS=") {
		t.Errorf("second notification %q", n)
	}
	c, code = v5Connect(t, ts.addr, echo.Addr())
	if code != socks.V5Succeeded {
		t.Fatalf("reply %v after reload", code)
	}
	mustWrite(t, c, []byte("hello"))
	io.ReadFull(c, make([]byte, 5))
	c.Close()
	waitFor(t, "relayed session counted", func() bool {
		_, text := scrape(t, h, "/metrics")
		return metricValue(text, `sockd_sessions_total{command="connect",outcome="relayed",protocol="socks5"}`) == "1"
	})
	_, text = scrape(t, h, "/metrics")
	for series, want := range map[string]string{
		`sockd_relayed_bytes_total{direction="from_client"}`:      "5",
		`sockd_relayed_bytes_total{direction="from_destination"}`: "5",
		`sockd_connect_seconds_count`:                             "1",
		`sockd_reloads_total{outcome="ok"}`:                       "1",
		`sockd_reloads_total{outcome="failed"}`:                   "0",
		`sockd_sessions_active`:                                   "0",
	} {
		if v := metricValue(text, series); v != want {
			t.Errorf("%s = %q, want %s", series, v, want)
		}
	}
	sum := regexp.MustCompile(`sockd_config_info\{checksum="([0-9a-f]{64})",file="` + regexp.QuoteMeta(ts.confPath) + `",kind="rules"\} 1`).FindStringSubmatch(text)
	if sum == nil {
		t.Fatalf("no config_info for %s:\n%s", ts.confPath, text)
	}

	// A broken file: the reload fails, the old checksum stays.
	os.WriteFile(ts.confPath, []byte("permitt all\n"), 0o600)
	if ts.Reload() == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	<-notes
	if n := <-notes; !strings.Contains(n, "reload failed") {
		t.Errorf("failed reload notified as %q", n)
	}
	_, text = scrape(t, h, "/metrics")
	if metricValue(text, `sockd_reloads_total{outcome="failed"}`) != "1" || !strings.Contains(text, sum[1]) {
		t.Errorf("after a failed reload:\n%s", text)
	}

	// A SOCKS4 client that sends garbage: protocol known, no command.
	g := dialProxy(t, ts.addr)
	mustWrite(t, g, []byte{4, 9, 0, 80, 127, 0, 0, 1, 0})
	io.ReadAll(g)
	waitFor(t, "error session counted", func() bool {
		_, text := scrape(t, h, "/metrics")
		return metricValue(text, `sockd_sessions_total{command="none",outcome="error",protocol="socks4"}`) == "1"
	})

	if code, body := scrape(t, h, "/healthz"); code != 200 || !strings.HasPrefix(body, "ok ") {
		t.Errorf("healthz while serving: %d %q", code, body)
	}
	ts.Close()
	if code, body := scrape(t, h, "/healthz"); code != 503 || body != "draining\n" {
		t.Errorf("healthz while draining: %d %q", code, body)
	}
}

// TestMetricsOff: without a registry nothing is recorded and sessions work.
func TestMetricsOff(t *testing.T) {
	t.Parallel()
	ts := startServer(t, permitLoopback, nil)
	if ts.metrics != nil {
		t.Fatal("metrics on by default")
	}
	echo := echoTarget(t, "tcp", "127.0.0.1:0")
	if _, code := v5Connect(t, ts.addr, echo.Addr()); code != socks.V5Succeeded {
		t.Fatalf("reply %v", code)
	}
	if code, _ := scrape(t, opsweb.Handler(ts, nil), "/metrics"); code != 404 {
		t.Errorf("/metrics without a gatherer: %d", code)
	}
}

// startProxyServer serves conf on a --proxy-protocol listener.
func startProxyServer(t *testing.T, conf string, lo ListenerOptions) *testServer {
	t.Helper()
	logs := &testnet.Buffer{}
	reg := prometheus.NewRegistry()
	s, err := New(Options{ConfigPath: writeFile(t, "sockd.conf", conf), Metrics: reg,
		Logger: logline.New(logs, logline.FormatText, slog.LevelDebug), HandshakeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lo.ProxyProtocol = true
	serveUntilCleanup(t, s, logs, func() { s.ServeListener(ln, lo) })
	return &testServer{Server: s, addr: ln.Addr().String(), log: logs}
}

// TestProxyProtocol: the rules judge the client the header names, with
// both versions; no header, a bad header or an untrusted balancer closes
// the connection without a SOCKS reply.
func TestProxyProtocol(t *testing.T) {
	t.Parallel()
	ts := startProxyServer(t, "permit 127.0.0.5 255.255.255.255\ndeny 0.0.0.0 0.0.0.0\n", ListenerOptions{})
	echo := echoTarget(t, "tcp", "127.0.0.1:0")
	dst := socks.AddrFromAddrPort(echo.Addr().(*net.TCPAddr).AddrPort())
	sockdAddr := netip.MustParseAddrPort(ts.addr)
	for _, tc := range []struct {
		client string
		v      int
		want   socks.V5ReplyCode
	}{
		{"127.0.0.5:40000", 1, socks.V5Succeeded},
		{"127.0.0.6:40001", 1, socks.V5NotAllowed},
		{"127.0.0.5:40002", 2, socks.V5Succeeded},
		{"127.0.0.6:40003", 2, socks.V5NotAllowed},
		{"[::ffff:127.0.0.5]:40004", 2, socks.V5Succeeded},
	} {
		src := netip.MustParseAddrPort(tc.client)
		hdr := proxyproto.AppendV1(nil, src, sockdAddr)
		if tc.v == 2 {
			to := sockdAddr
			if !src.Addr().Is4() {
				to = netip.AddrPortFrom(netip.IPv6Loopback(), 1080)
			}
			hdr = proxyproto.AppendV2(nil, src, to)
		}
		// The header and the greeting in one write, as a balancer
		// forwarding a fast client sends them.
		g, _ := socks.AppendV5Greeting(nil, socks.V5Greeting{Methods: []socks.Method{socks.MethodNoAuth}})
		c := dialProxy(t, ts.addr)
		mustWrite(t, c, append(hdr, g...))
		var choice [2]byte
		if _, err := io.ReadFull(c, choice[:]); err != nil {
			t.Fatalf("%s v%d: %v", tc.client, tc.v, err)
		}
		v5Send(t, c, socks.V5Request{Command: socks.V5Connect, Dst: dst})
		if r := readV5Reply(t, c); r.Code != tc.want {
			t.Errorf("%s v%d: reply %v, want %v", tc.client, tc.v, r.Code, tc.want)
		}
		c.Close()
	}
	contains(t, ts.log, "refused -- Connect from (unknown)@127.0.0.6")
	contains(t, ts.log, "connected -- Connect from (unknown)@127.0.0.5")

	// No header: a plain SOCKS5 greeting is not a PROXY header.
	c := dialProxy(t, ts.addr)
	g, _ := socks.AppendV5Greeting(nil, socks.V5Greeting{Methods: []socks.Method{socks.MethodNoAuth}})
	mustWrite(t, c, append(g, "0123456789abcdef"...))
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Errorf("a connection without a header got %q", b)
	}
	contains(t, ts.log, "bad PROXY protocol header")

	// A LOCAL header (the balancer's health check) keeps the real address.
	c = dialProxy(t, ts.addr)
	mustWrite(t, c, proxyproto.AppendV2(nil, netip.AddrPort{}, netip.AddrPort{}))
	v5Handshake(t, c)
	v5Send(t, c, socks.V5Request{Command: socks.V5Connect, Dst: dst})
	if r := readV5Reply(t, c); r.Code != socks.V5NotAllowed {
		t.Errorf("LOCAL from 127.0.0.1: reply %v, want refused", r.Code)
	}

	// An untrusted balancer is closed before anything is read.
	tu := startProxyServer(t, "permit 0.0.0.0 0.0.0.0\n", ListenerOptions{ProxyTrusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	c = dialProxy(t, tu.addr)
	mustWrite(t, c, proxyproto.AppendV1(nil, netip.MustParseAddrPort("127.0.0.5:1"), netip.MustParseAddrPort(tu.addr)))
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Errorf("untrusted balancer got %q", b)
	}
	contains(t, tu.log, "PROXY protocol connection from untrusted host 127.0.0.1")
}
