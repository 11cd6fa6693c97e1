package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/simulate"
	"github.com/sockd/sockd/internal/testnet"
)

// TestRsockdName: started as rsockd the daemon documents its client file;
// both names take --client-config and --credentials.
func TestRsockdName(t *testing.T) {
	for _, name := range []string{"rsockd", "sockd"} {
		var out, errb bytes.Buffer
		if code := Main(name, []string{"--help"}, nil, &out, &errb); code != 0 {
			t.Fatalf("%s --help: exit %d: %s", name, code, errb.String())
		}
		for _, want := range []string{"--client-config", "--credentials"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s --help lacks %s", name, want)
			}
		}
		if name == "rsockd" && !strings.Contains(out.String(), "/etc/socks.fc, then /etc/socks.conf") {
			t.Errorf("rsockd --help does not describe its client file lookup:\n%s", out.String())
		}
	}
}

// TestSimulateClientConfig: the simulator shows the route of a permitted
// request, and a route that socks.conf denies makes the request refused.
func TestSimulateClientConfig(t *testing.T) {
	dir := t.TempDir()
	sc := testnet.WriteFileIn(t, dir, "sockd.conf", "permit 0.0.0.0 0.0.0.0\n")
	cc := testnet.WriteFileIn(t, dir, "socks.conf", "deny 10.0.0.0 255.0.0.0\nsockd @=socks5h://192.0.2.1:1081,http://192.0.2.2 0.0.0.0 0.0.0.0\n")
	var out, errb bytes.Buffer
	code := Main("sockd", []string{"simulate", "-c", sc, "--client-config", cc, "--from", "192.0.2.50", "--to", "www.example.org", "--port", "443"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"PERMITTED", "route to www.example.org:443: THROUGH UPSTREAM", "deciding line: 2: sockd @=socks5h://",
		"line 1 tried: destination does not match", "socks5h://192.0.2.1:1081 -> www.example.org:443", "http://192.0.2.2:8080 -> www.example.org:443"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	code = Main("sockd", []string{"simulate", "-c", sc, "--client-config", cc, "--from", "192.0.2.50", "--to", "10.1.1.1", "--port", "80", "--json"}, nil, &out, &errb)
	if code != ExitInvalid {
		t.Fatalf("denied route: exit %d, want %d", code, ExitInvalid)
	}
	var res simulate.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Decision != "deny" || res.Route == nil || res.Route.Action != "deny" || res.Route.Line != 1 {
		t.Fatalf("json: %s", out.String())
	}
}

// TestSimulateDefaultServer: the simulator routes a sockd line without @=
// through the default server the daemon would use: --default-server, else
// SOCKS_SERVER.
func TestSimulateDefaultServer(t *testing.T) {
	dir := t.TempDir()
	sc := testnet.WriteFileIn(t, dir, "sockd.conf", "permit 0.0.0.0 0.0.0.0\n")
	cc := testnet.WriteFileIn(t, dir, "socks.conf", "sockd ALL\n")
	args := []string{"simulate", "-c", sc, "--client-config", cc, "--from", "192.0.2.50", "--to", "198.51.100.7", "--port", "80"}
	for _, tc := range []struct {
		env   string
		extra []string
		want  string
	}{
		{"", nil, "the line names no server (@=)"},
		{"192.0.2.1:1080", nil, "socks4://192.0.2.1:1080 -> 198.51.100.7:80"},
		{"192.0.2.1:1080", []string{"--default-server", "socks5://192.0.2.2:1081"}, "socks5://192.0.2.2:1081 -> 198.51.100.7:80"},
	} {
		t.Setenv("SOCKS_SERVER", tc.env)
		var out, errb bytes.Buffer
		Main("sockd", append(append([]string{}, args...), tc.extra...), nil, &out, &errb)
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("SOCKS_SERVER=%q %v: output lacks %q:\n%s%s", tc.env, tc.extra, tc.want, out.String(), errb.String())
		}
	}
}

// TestRsockdSIGUSR1: a real SIGUSR1 to rsockd logs the socks.conf lines
// beside the rules.
func TestRsockdSIGUSR1(t *testing.T) {
	dir := t.TempDir()
	conf := testnet.WriteFileIn(t, dir, "sockd.conf", "permit 127.0.0.0 255.0.0.0\n")
	cc := testnet.WriteFileIn(t, dir, "socks.conf", "direct 127.0.0.0 255.0.0.0\nsockd @=192.0.2.1 ALL\n")
	stderr, done := startInProcessAs("rsockd", "-c", conf, "--client-config", cc, "--listen", "127.0.0.1:0", "--drain-timeout", "5s")
	if waitListening(t, regexp.MustCompile(`INFO listening address=(\S+)`), stderr.String, done, 20*time.Second, nil) == "" {
		t.Fatalf("rsockd does not listen:\n%s", stderr.String())
	}
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	for _, want := range []string{"INFO config: permit 127.0.0.0 255.0.0.0", "INFO effective client configuration file=" + cc,
		"INFO client: direct 127.0.0.0 255.0.0.0", "INFO client: sockd @=192.0.2.1 ALL 0.0.0.0"} {
		waitLogFor(t, stderr.String, "log lacks "+want, func(log string) bool { return strings.Contains(log, want) })
	}
	if code := stopInProcess(t, done); code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}
