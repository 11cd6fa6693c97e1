package opsweb

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// daemon is a Daemon that serves the rules of rules.conf until closed.
type daemon struct{ closing atomic.Bool }

func (d *daemon) Closing() bool                      { return d.closing.Load() }
func (d *daemon) RulesFile() (path, checksum string) { return "rules.conf", "0123abcd" }

// serveOpsForTest serves the metrics endpoint within lim on a loopback
// port and returns its address.
func serveOpsForTest(t *testing.T, lim Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ServeWithin(ln, &daemon{}, prometheus.NewRegistry(), lim) }()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Errorf("ServeWithin: %v", err)
		}
	})
	return ln.Addr().String()
}

// TestHealthz: /healthz names the rules in force while the daemon
// accepts, and says "draining" with a 503 once it has stopped; without a
// gatherer there is no /metrics.
func TestHealthz(t *testing.T) {
	t.Parallel()
	d := &daemon{}
	h := Handler(d, nil)
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get("/healthz"); code != 200 || body != "ok rules.conf 0123abcd\n" {
		t.Errorf("healthz while serving: %d %q", code, body)
	}
	d.closing.Store(true)
	if code, body := get("/healthz"); code != 503 || body != "draining\n" {
		t.Errorf("healthz while draining: %d %q", code, body)
	}
	if code, _ := get("/metrics"); code != 404 {
		t.Errorf("/metrics without a gatherer: %d", code)
	}
}

// keepAliveGet opens a connection, asks for /healthz over HTTP/1.1 and
// reads the answer, leaving the connection open and idle.
func keepAliveGet(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	br := bufio.NewReader(c)
	askHealth(t, c, br)
	return c, br
}

func askHealth(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: sockd\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer from the metrics endpoint: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("answer %s (close %v), want 200 on a kept-alive connection", resp.Status, resp.Close)
	}
}

// TestOpsClosesIdleConnections: a keep-alive connection that asks nothing
// more is closed after the idle timeout, so idle scrapers cannot pin the
// daemon's descriptors (issue 18, defect 12).
func TestOpsClosesIdleConnections(t *testing.T) {
	t.Parallel()
	addr := serveOpsForTest(t, Limits{ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		IdleTimeout: 200 * time.Millisecond})
	c, br := keepAliveGet(t, addr)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := br.ReadByte()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("an idle keep-alive connection is still open 5 s after it went idle (idle timeout 200 ms)")
	}
	if err != io.EOF {
		t.Fatalf("idle connection: %v, want the server to close it (EOF)", err)
	}
}

// TestOpsBoundsConnections: past MaxConns a new connection waits (in the
// listen backlog) until a served one ends.
func TestOpsBoundsConnections(t *testing.T) {
	t.Parallel()
	addr := serveOpsForTest(t, Limits{ReadTimeout: time.Minute, WriteTimeout: time.Minute,
		IdleTimeout: time.Minute, MaxConns: 2})
	c1, _ := keepAliveGet(t, addr)
	keepAliveGet(t, addr)
	c3, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	br3 := bufio.NewReader(c3)
	if _, err := io.WriteString(c3, "GET /healthz HTTP/1.1\r\nHost: sockd\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c3.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := br3.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a third connection over a bound of 2 was served (%v)", err)
	}
	c1.Close() // frees a slot: the third is served now
	c3.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br3, nil)
	if err != nil {
		t.Fatalf("the waiting connection was not served once a slot was free: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("answer %s", resp.Status)
	}
}
