package cli

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/sockd/sockd/internal/testnet"
)

// TestHitCounters sends requests that each line decides a known number
// of times and reads the counts back from the SIGUSR1 dump and from the
// metrics endpoint.
func TestHitCounters(t *testing.T) {
	dir := t.TempDir()
	dst := testnet.CloserT(t, "127.0.0.1:0")
	conf := testnet.WriteFileIn(t, dir, "sockd.conf", "deny *=bob 0.0.0.0 0.0.0.0\npermit 127.0.0.0 255.0.0.0\npermit 10.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0 eq 1\n")
	// Line 1: bob ×2 refused; line 2: ann ×3 permitted; line 3 never;
	// line 4 (eq 1) never: the destination port is not 1; the implicit
	// deny: nothing.
	users := []string{"ann", "bob", "ann", "bob", "ann"}
	var dump, scrape string
	runDaemonWith(t, conf, "text", users, dst, func(log func() string) {
		syscall.Kill(os.Getpid(), syscall.SIGUSR1)
		waitLogFor(t, log, "no hits dump after SIGUSR1", func(l string) bool { return strings.Contains(l, "hits: default:") })
		dump = log()
		scrape = scrapeMetrics(t, dump)
	}, "--metrics-listen", "127.0.0.1:0")
	for _, want := range []string{
		`hits: line 1: permitted 0 (connect 0, bind 0, udp 0), refused 2 (connect 2, bind 0, udp 0), last 20`,
		`hits: line 2: permitted 3 (connect 3, bind 0, udp 0), refused 0 (connect 0, bind 0, udp 0), last 20`,
		`hits: line 3: permitted 0 (connect 0, bind 0, udp 0), refused 0 (connect 0, bind 0, udp 0), last never -- permit 10.0.0.0 255.0.0.0`,
		`hits: default: permitted 0 (connect 0, bind 0, udp 0), refused 0 (connect 0, bind 0, udp 0), last never -- implicit deny`,
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("dump lacks %q:\n%s", want, dump)
		}
	}
	var series []string
	for _, l := range strings.Split(scrape, "\n") {
		if strings.HasPrefix(l, "sockd_rule_hits_total{") {
			series = append(series, l)
		}
	}
	want := []string{`sockd_rule_hits_total{action="deny",line="1"} 2`, `sockd_rule_hits_total{action="permit",line="2"} 3`}
	if strings.Join(series, "\n") != strings.Join(want, "\n") {
		t.Errorf("series:\n%s\nwant:\n%s", strings.Join(series, "\n"), strings.Join(want, "\n"))
	}
}
