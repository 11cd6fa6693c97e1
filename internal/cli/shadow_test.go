package cli

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/sockd/sockd/internal/testnet"
)

// TestShadowLiveCurl sends curl through the daemon with a candidate rule
// file that refuses one destination: the requests still pass, each
// disagreement is logged once and counted, agreement logs nothing, and a
// SIGHUP reloads the candidate.
func TestShadowLiveCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is needed (scripts/install-test-deps installs it)")
	}
	dir := t.TempDir()
	served := func() *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served") }))
	}
	a, b := served(), served()
	defer a.Close()
	defer b.Close()
	portOf := func(s *httptest.Server) int { return s.Listener.Addr().(*net.TCPAddr).Port }
	conf := testnet.WriteFileIn(t, dir, "sockd.conf", "permit 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n")
	cand := testnet.WriteFileIn(t, dir, "candidate.conf", fmt.Sprintf("deny 127.0.0.0 255.0.0.0 127.0.0.0 255.0.0.0 eq %d\npermit 127.0.0.0 255.0.0.0\n", portOf(a)))

	// -t checks the candidate too.
	code, stdout, stderr := runSockd(t, "", "-c", conf, "--shadow", cand, "-t")
	if code != ExitOK || !strings.Contains(stdout+stderr, cand+": 2 shadow rules, ok") {
		t.Fatalf("-t: exit %d\n%s%s", code, stdout, stderr)
	}
	// A frozen candidate serves as well.
	fc := filepath.Join(dir, "candidate.fc")
	if code := Main("make_sockdfc", []string{cand, fc}, strings.NewReader(""), io.Discard, io.Discard); code != ExitOK {
		t.Fatalf("make_sockdfc: exit %d", code)
	}
	if code, stdout, stderr := runSockd(t, "", "-c", conf, "--shadow", fc, "-t"); code != ExitOK || !strings.Contains(stdout+stderr, ": 2 shadow rules, ok") {
		t.Fatalf("-t with a frozen candidate: exit %d\n%s%s", code, stdout, stderr)
	}
	bad := testnet.WriteFileIn(t, dir, "bad.conf", "permit 127.0.0.0\n")
	if code, stdout, stderr := runSockd(t, "", "-c", conf, "--shadow", bad, "-t"); code == ExitOK {
		t.Fatalf("-t accepted a bad candidate:\n%s%s", stdout, stderr)
	}

	get := func(proxy string, s *httptest.Server) {
		out, err := exec.Command(curl, "-sS", "--max-time", "20", "--socks5", proxy, s.URL).CombinedOutput()
		if err != nil || string(out) != "served" {
			t.Fatalf("curl through %s to %s: %v: %s", proxy, s.URL, err, out)
		}
	}
	var log, scrape string
	runDaemonWith(t, conf, "text", nil, nil, func(logf func() string) {
		proxy := regexp.MustCompile(`listening address=(\S+)`).FindStringSubmatch(logf())[1]
		get(proxy, a) // the candidate refuses: logged
		get(proxy, b) // both permit: silent
		get(proxy, a)
		// The candidate is reloaded with the rules.
		os.WriteFile(cand, []byte("permit 0.0.0.0 0.0.0.0\n"), 0o644)
		syscall.Kill(os.Getpid(), syscall.SIGHUP)
		waitLogFor(t, logf, "no reload", func(l string) bool { return strings.Count(l, "configuration loaded") >= 2 })
		get(proxy, a) // now they agree
		scrape = scrapeMetrics(t, logf())
		log = logf()
	}, "--shadow", cand, "--metrics-listen", "127.0.0.1:0")

	want := fmt.Sprintf("shadow: live permit line 1, candidate deny line 1 -- Connect from (unknown)@127.0.0.1 to 127.0.0.1 (%d)", portOf(a))
	if n := strings.Count(log, "shadow: "); n != 2 || strings.Count(log, want) != 2 {
		t.Errorf("want 2 shadow lines %q, got %d:\n%s", want, n, log)
	}
	// Since the reload: one request, both permit.
	if !strings.Contains(scrape, `sockd_shadow_decisions_total{candidate="permit",live="permit"} 1`) ||
		!strings.Contains(scrape, `sockd_shadow_decisions_total{candidate="deny",live="permit"} 0`) {
		t.Errorf("shadow series:\n%s", grepLines(scrape, "sockd_shadow"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
