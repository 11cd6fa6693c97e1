package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/internal/version"
)

// TestConfigCheck: -t loads every file the daemon would (rules, routes,
// passwords) and exits 0 with a summary, or 1 with positioned diagnostics
// naming the broken file; nothing is served either way.
func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	conf := testnet.WriteFileIn(t, dir, "sockd.conf", "permit 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n")
	route := testnet.WriteFileIn(t, dir, "sockd.route", "127.0.0.1 127.0.0.0 255.0.0.0\n")

	code, out, stderr := runSockd(t, "", "-t", "-c", conf, "--route", route)
	if code != ExitOK || out != "" || !strings.Contains(stderr, conf+": 2 rules, ok (sha256 ") || !strings.Contains(stderr, route+": 1 routes, ok") {
		t.Fatalf("valid files: exit %d, stdout %q, stderr %q", code, out, stderr)
	}

	os.WriteFile(route, []byte("127.0.0.1 127.0.0.0\n"), 0o600)
	code, _, stderr = runSockd(t, "", "-t", "-c", conf, "--route", route)
	if code != ExitInvalid || !strings.Contains(stderr, route+":1:") || !strings.Contains(stderr, "error:") {
		t.Fatalf("broken route file: exit %d, stderr %q", code, stderr)
	}

	os.WriteFile(conf, []byte("permit 127.0.0.0 255.0.0.0\npermit 10.0.0.0 255.0.0.0 eq\n"), 0o600)
	code, _, stderr = runSockd(t, "", "--check", "-c", conf)
	if code != ExitInvalid || !strings.Contains(stderr, conf+":2:") || !strings.Contains(stderr, "^") {
		t.Fatalf("broken rules: exit %d, stderr %q", code, stderr)
	}

	code, _, stderr = runSockd(t, "", "-t", "-c", conf+".missing")
	if code != ExitInvalid || !strings.Contains(stderr, "missing") {
		t.Fatalf("missing file: exit %d, stderr %q", code, stderr)
	}

	code, _, stderr = runSockd(t, "", "-t", "-c", filepath.Join(dir, "none.conf"), "--passwd", filepath.Join(dir, "no.passwd"))
	if code != ExitInvalid {
		t.Fatalf("missing password file: exit %d, stderr %q", code, stderr)
	}
}

// TestPrintConfig: -T prints the effective rules and routes as canonical
// text that the compiler accepts again.
func TestPrintConfig(t *testing.T) {
	dir := t.TempDir()
	conf := testnet.WriteFileIn(t, dir, "sockd.conf", "PERMIT   127.0.0.0/8   0.0.0.0 0.0.0.0 EQ 80 # web\ndeny 0.0.0.0 0.0.0.0\n")
	code, out, stderr := runSockd(t, "", "-T", "-c", conf)
	if code != ExitOK || !strings.Contains(out, "# rules: "+conf) || !strings.Contains(out, "permit 127.0.0.0/8 0.0.0.0 0.0.0.0 eq 80") ||
		!strings.Contains(out, "# routes: none") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	again := testnet.WriteFileIn(t, dir, "again.conf", out)
	if code, _, stderr := runSockd(t, "", "-t", "-c", again); code != ExitOK {
		t.Fatalf("the printed configuration does not check: %s", stderr)
	}
	if code, _, _ := runSockd(t, "", "-t", "-T", "-c", conf); code != ExitUsage {
		t.Errorf("-t -T: exit %d, want usage", code)
	}
	for _, args := range [][]string{
		{"-t", "--proxy-trusted", "10.0.0.0/8"},
		{"-t", "--proxy-protocol", "--proxy-trusted", "not-an-address"},
		{"-t", "--metrics-listen", "nonsense"},
		{"-t", "--log-file", "/tmp/x", "--syslog"},
	} {
		if code, _, stderr := runSockd(t, "", args...); code != ExitUsage {
			t.Errorf("%v: exit %d (%s), want usage", args, code, stderr)
		}
	}
}

// TestVersionEverywhere: --version works on every command and subcommand
// of every tool, and sockd completion writes the scripts of each shell.
func TestVersionEverywhere(t *testing.T) {
	for _, tool := range ManTools {
		cmd, err := Command(tool)
		if err != nil {
			t.Fatal(err)
		}
		var paths [][]string
		var walk func(c interface{ Commands() []*cobra.Command }, path []string)
		walk = func(c interface{ Commands() []*cobra.Command }, path []string) {
			paths = append(paths, path)
			for _, sub := range c.Commands() {
				if sub.Name() != "help" {
					walk(sub, append(append([]string(nil), path...), sub.Name()))
				}
			}
		}
		walk(cmd, nil)
		for _, p := range paths {
			var out, errb strings.Builder
			code := Main(tool, append(p, "--version"), strings.NewReader(""), &out, &errb)
			if code != ExitOK || out.String() != tool+" (sockd toolchain) "+version.Version+"\n" {
				t.Errorf("%s %v --version: exit %d, %q %q", tool, p, code, out.String(), errb.String())
			}
		}
	}
	for shell, want := range map[string]string{"bash": "# bash completion V2 for sockd", "zsh": "#compdef sockd", "fish": "# fish completion for sockd"} {
		code, out, stderr := runSockd(t, "", "completion", shell)
		if code != ExitOK || !strings.HasPrefix(out, want) {
			t.Errorf("completion %s: exit %d, %.60q %s", shell, code, out, stderr)
		}
	}
}

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
