package cli

import (
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
)

// The tests that run the daemon in-process (Main on a goroutine, stopped
// by a real SIGTERM) share these steps.

// startInProcess runs `sockd ARGS...` on a goroutine; it returns the
// buffer the daemon logs to and the channel its exit status arrives on.
func startInProcess(args ...string) (*testnet.Buffer, <-chan int) {
	return startInProcessAs("sockd", args...)
}

// startInProcessAs is startInProcess for the daemon under another name.
func startInProcessAs(name string, args ...string) (*testnet.Buffer, <-chan int) {
	stderr := &testnet.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main(name, args, strings.NewReader(""), io.Discard, stderr)
	}()
	return stderr, done
}

// waitListening polls log until re finds the daemon's address (its first
// group) and ready, if not nil, holds. It fails the test if the daemon
// exits first (done, if not nil); it returns "" if timeout passes, so
// that the caller words that failure.
func waitListening(t *testing.T, re *regexp.Regexp, log func() string, done <-chan int, timeout time.Duration, ready func() bool) string {
	t.Helper()
	var addr string
	var code int
	exited := false
	testnet.Eventually(timeout, 10*time.Millisecond, func() bool {
		select {
		case code = <-done:
			exited = true
			return true
		default:
		}
		if m := re.FindStringSubmatch(log()); m != nil {
			addr = m[1]
		}
		return addr != "" && (ready == nil || ready())
	})
	if exited {
		t.Fatalf("daemon exited %d: %s", code, log())
	}
	if ready != nil && !ready() {
		return ""
	}
	return addr
}

// stopInProcess sends the test process SIGTERM and returns the daemon's
// exit status.
func stopInProcess(t *testing.T, done <-chan int) int {
	t.Helper()
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop on SIGTERM")
	}
	return 0
}

// socks4Sessions sends one SOCKS4 CONNECT to dst through addr for each
// user, then waits until log holds a terminated line for each granted
// one.
func socks4Sessions(t *testing.T, addr string, dst *net.TCPAddr, users []string, log func() string, timeout time.Duration) {
	t.Helper()
	granted := 0
	for _, u := range users {
		if socks4(t, addr, dst, u) == 90 {
			granted++
		}
	}
	// Each granted session ends with a terminated line.
	if !testnet.Eventually(timeout, 10*time.Millisecond, func() bool { return strings.Count(log(), "terminated -- ") >= granted }) {
		t.Fatalf("sessions not logged as terminated:\n%s", log())
	}
}

// waitLogFor waits until cond holds of the log, failing the test with what
// and the log after 20 seconds.
func waitLogFor(t *testing.T, log func() string, what string, cond func(string) bool) {
	t.Helper()
	if !testnet.Eventually(20*time.Second, 10*time.Millisecond, func() bool { return cond(log()) }) {
		t.Fatalf("%s:\n%s", what, log())
	}
}

// scrapeMetrics reads the metrics endpoint the daemon announced in log.
func scrapeMetrics(t *testing.T, log string) string {
	t.Helper()
	m := regexp.MustCompile(`metrics on http://(\S+)/metrics`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no metrics address:\n%s", log)
	}
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(body)
}
