package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/socks"
)

// waitFor polls cond for up to 20 s: an upper bound, never a pace.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !testnet.Eventually(20*time.Second, 10*time.Millisecond, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

type testServer struct {
	*Server
	addr     string // host:port of the listener
	log      *testnet.Buffer
	confPath string
}

var writeFile = testnet.WriteFileT

// startServer runs a server with the given sockd.conf text on 127.0.0.1:0
// (or network/address given by listen) until the test ends.
func startServer(t *testing.T, conf string, mod func(*Options)) *testServer {
	return startServerOn(t, "127.0.0.1:0", conf, mod)
}

func startServerOn(t *testing.T, listen, conf string, mod func(*Options)) *testServer {
	t.Helper()
	logs := &testnet.Buffer{}
	opts := Options{
		ConfigPath: writeFile(t, "sockd.conf", conf),
		Logger:     logline.New(logs, logline.FormatText, slog.LevelDebug),
		// A test that did not ask for an engine gets the default's.
		NoEventLoops: goroutineEngine(t),
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	serveUntilCleanup(t, s, logs, func() { s.Serve(ln) })
	return &testServer{Server: s, addr: ln.Addr().String(), log: logs, confPath: opts.ConfigPath}
}

// serveUntilCleanup runs serve (s.Serve or s.ServeListener) in the
// background until the test ends; then it shuts s down, waits for serve to
// return, and prints the server's log if the test failed.
func serveUntilCleanup(t *testing.T, s *Server, logs *testnet.Buffer, serve func()) {
	done := make(chan struct{})
	go func() { defer close(done); serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
}

const permitLoopback = "permit 127.0.0.0 255.0.0.0\npermit ::1/128 0.0.0.0 0.0.0.0\ndeny 0.0.0.0 0.0.0.0\n"

// httpTarget is a local HTTP destination that answers with a fixed body.
func httpTarget(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	const body = "hello through sockd"
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, body)
	}))
	t.Cleanup(ts.Close)
	return ts, body
}

// echoTarget echoes every connection until EOF, then closes.
func echoTarget(t *testing.T, network, addr string) net.Listener {
	t.Helper()
	return testnet.EchoT(t, network, addr)
}

// dialProxy opens a raw connection to the server with a deadline for the
// whole test exchange.
func dialProxy(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func mustWrite(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// must fails t on err, else returns v.
func must[T any](t *testing.T, v T, err error) T {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func v4Request(t *testing.T, req socks.V4Request) []byte {
	t.Helper()
	b, err := socks.AppendV4Request(nil, req)
	return must(t, b, err)
}

func readV4Reply(t *testing.T, c net.Conn) socks.V4Reply {
	t.Helper()
	b := make([]byte, socks.V4ReplyLen)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading SOCKS4 reply: %v", err)
	}
	r, _, err := socks.ParseV4Reply(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// v5Handshake does the no-auth greeting.
func v5Handshake(t *testing.T, c net.Conn) {
	t.Helper()
	g, _ := socks.AppendV5Greeting(nil, socks.V5Greeting{Methods: []socks.Method{socks.MethodNoAuth}})
	mustWrite(t, c, g)
	var b [2]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatal(err)
	}
	if b[0] != 5 || b[1] != byte(socks.MethodNoAuth) {
		t.Fatalf("method choice %v", b)
	}
}

func v5RequestBytes(t *testing.T, req socks.V5Request) []byte {
	t.Helper()
	b, err := socks.AppendV5Request(nil, req)
	return must(t, b, err)
}

func v5Send(t *testing.T, c net.Conn, req socks.V5Request) {
	t.Helper()
	mustWrite(t, c, v5RequestBytes(t, req))
}

// v4Open dials the server and sends a SOCKS4 request.
func v4Open(t *testing.T, srv *testServer, req socks.V4Request) *net.TCPConn {
	t.Helper()
	c := dialProxy(t, srv.addr)
	mustWrite(t, c, v4Request(t, req))
	return c
}

// v5Open dials the server, does the no-auth greeting and sends a SOCKS5
// request.
func v5Open(t *testing.T, srv *testServer, req socks.V5Request) *net.TCPConn {
	t.Helper()
	c := dialProxy(t, srv.addr)
	v5Handshake(t, c)
	v5Send(t, c, req)
	return c
}

func readV5Reply(t *testing.T, c net.Conn) socks.V5Reply {
	t.Helper()
	rd := socks.NewReader(c, make([]byte, socks.MaxV5RequestLen))
	r, err := rd.ReadV5Reply()
	if err != nil {
		t.Fatalf("reading SOCKS5 reply: %v", err)
	}
	if len(rd.Buffered()) != 0 {
		t.Fatalf("reply followed by %d unexpected bytes", len(rd.Buffered()))
	}
	return r
}

// v5ConnectTo does a SOCKS5 CONNECT to dst through srv and returns the
// reply and how long it took from the greeting.
func v5ConnectTo(t *testing.T, srv *testServer, dst socks.Addr) (*net.TCPConn, socks.V5Reply, time.Duration) {
	t.Helper()
	start := time.Now()
	c := v5Open(t, srv, socks.V5Request{Command: socks.V5Connect, Dst: dst})
	r := readV5Reply(t, c)
	return c, r, time.Since(start)
}

// v5Connected does a SOCKS5 CONNECT to dst through srv and fails unless
// it succeeded.
func v5Connected(t *testing.T, srv *testServer, dst socks.Addr) *net.TCPConn {
	t.Helper()
	c, r, _ := v5ConnectTo(t, srv, dst)
	if r.Code != socks.V5Succeeded {
		t.Fatalf("reply %v", r.Code)
	}
	return c
}

// readV5ReplyOnly reads one SOCKS5 reply and not a byte more: relayed
// data may follow it at once.
func readV5ReplyOnly(t *testing.T, c io.Reader) socks.V5Reply {
	t.Helper()
	b := make([]byte, 5, socks.MaxV5RequestLen)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading SOCKS5 reply: %v", err)
	}
	rest := 0
	switch b[3] {
	case 1:
		rest = 4 + 2 - 1
	case 4:
		rest = 16 + 2 - 1
	case 3:
		rest = int(b[4]) + 2
	}
	b = b[:5+rest]
	if _, err := io.ReadFull(c, b[5:]); err != nil {
		t.Fatalf("reading SOCKS5 reply: %v", err)
	}
	r, _, err := socks.ParseV5Reply(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sendThrough writes msg to from and fails unless exactly msg arrives at
// to: a relay's one direction, or an echo when from and to are one
// connection.
func sendThrough(t *testing.T, from, to net.Conn, msg string) {
	t.Helper()
	mustWrite(t, from, []byte(msg))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(to, got); err != nil || string(got) != msg {
		t.Fatalf("sent %q, received %q (%v)", msg, got, err)
	}
}

// halfCloseEnds half-closes c and fails unless the session then ends with
// nothing more from the destination (an echo sees EOF and closes).
func halfCloseEnds(t *testing.T, c *net.TCPConn) {
	t.Helper()
	c.CloseWrite()
	if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
		t.Fatalf("after half-close: %q %v", rest, err)
	}
}

func hostPort(t *testing.T, addr string) (string, uint16) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var port uint16
	fmt.Sscan(p, &port)
	return h, port
}

func contains(t *testing.T, log *testnet.Buffer, want string) {
	t.Helper()
	waitFor(t, "log line "+want, func() bool { return strings.Contains(log.String(), want) })
}

func newTestLogger(w io.Writer) *slog.Logger {
	return logline.New(w, logline.FormatText, slog.LevelDebug)
}

// engines runs body once per engine, as the subtests "loops" (the event
// loops, where the system has them) and "goroutines" (NoEventLoops): the
// two engines must behave the same, so every suite of the server runs
// under both. startServer picks the engine from the test's name, which
// reaches through any subtests body starts.
func engines(t *testing.T, body func(t *testing.T)) {
	for _, e := range []string{"loops", "goroutines"} {
		t.Run(e, body)
	}
}

// parallelEngines is engines with the two subtests run in parallel, for
// a test that measures nothing process-wide (heap, goroutines,
// descriptors): each Server owns its pools, counters and hooks, so two of
// them share nothing that changes.
func parallelEngines(t *testing.T, body func(t *testing.T)) {
	for _, e := range []string{"loops", "goroutines"} {
		t.Run(e, func(t *testing.T) {
			t.Parallel()
			body(t)
		})
	}
}

// withServers is parallelEngines for a test that runs in parallel with
// the others and starts, under each engine, a server of its own with conf
// and mod before body.
func withServers(t *testing.T, conf string, mod func(*Options), body func(t *testing.T, srv *testServer)) {
	t.Parallel()
	parallelEngines(t, func(t *testing.T) { body(t, startServer(t, conf, mod)) })
}

// goroutineEngine reports whether t runs under engines' "goroutines".
func goroutineEngine(t testing.TB) bool {
	return slices.Contains(strings.Split(t.Name(), "/"), "goroutines")
}
