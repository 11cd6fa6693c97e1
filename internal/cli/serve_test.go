package cli

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/sockd/sockd/internal/auth"
	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
)

func runSockd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return runTool(t, "sockd", stdin, args...)
}

func TestServeUsageErrors(t *testing.T) {
	conf := testnet.WriteFileT(t, "sockd.conf", "permit 127.0.0.0 255.0.0.0\n")
	for _, args := range [][]string{
		{"-c", conf, "-i", "-I"},
		{"-c", conf, "--log-format", "xml"},
		{"-c", conf, "--auth", "kerberos"},
		{"-c", conf, "--handshake-timeout", "0s"},
		{"-c", conf, "--inetd", "--listen", "127.0.0.1:0"},
		{"-c", conf, "--event-loops", "maybe"},
	} {
		if code, _, stderr := runSockd(t, "", args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, ExitUsage, stderr)
		}
	}
}

// TestServeBadConfig: the daemon refuses to start on a broken file and
// prints compiler-style diagnostics.
func TestServeBadConfig(t *testing.T) {
	conf := testnet.WriteFileT(t, "sockd.conf", "permit 127.0.0.0 255.0.0.0\npermitt 10.0.0.0 255.0.0.0\n")
	code, _, stderr := runSockd(t, "", "-c", conf, "--listen", "127.0.0.1:0")
	if code != ExitInvalid || !strings.Contains(stderr, conf+":2:1: error:") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runSockd(t, "", "-c", conf+".missing", "--listen", "127.0.0.1:0")
	if code != ExitInvalid || stderr == "" {
		t.Fatalf("missing file: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runSockd(t, "", "--auth", "userpass", "--listen", "127.0.0.1:0")
	if code != ExitInvalid || !strings.Contains(stderr, "--passwd") {
		t.Fatalf("userpass without a file: exit %d, stderr %q", code, stderr)
	}
}

func TestVer(t *testing.T) {
	code, out, _ := runSockd(t, "", "-ver")
	if code != ExitInvalid || !strings.HasPrefix(out, "\tCSTC multi-homed SOCKS proxy server version 4.3 compatible") {
		t.Fatalf("exit %d, %q", code, out)
	}
}

// TestServeRun runs the daemon in-process with authentication and a pid
// file, relays one request, then stops it with a real SIGTERM.
func TestServeRun(t *testing.T) {
	dir := t.TempDir()
	conf := testnet.WriteFileIn(t, dir, "sockd.conf", "permit *=ann 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n")
	pw := filepath.Join(dir, "passwd")
	if err := auth.SetPassword(pw, "ann", "secret", 4); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(dir, "sockd.pid")
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served") }))
	defer target.Close()

	stderr, done := startInProcess("-c", conf, "--listen", "127.0.0.1:0", "--passwd", pw, "--pidfile", pidfile,
		"--log-format", "json", "--drain-timeout", "5s")
	re := regexp.MustCompile(`"msg":"listening","address":"(127\.0\.0\.1:\d+)"`)
	addr := waitListening(t, re, stderr.String, done, 20*time.Second, func() bool { return fileExists(pidfile) })
	if addr == "" {
		t.Fatalf("daemon did not start: %s", stderr.String())
	}
	d, err := proxy.SOCKS5("tcp", addr, &proxy.Auth{User: "ann", Password: "secret"}, &net.Dialer{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: d.(proxy.ContextDialer).DialContext}}
	resp, err := client.Get(target.URL)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "served" {
		t.Fatalf("body %q", body)
	}
	if code := stopInProcess(t, done); code != ExitOK {
		t.Fatalf("exit %d after SIGTERM: %s", code, stderr.String())
	}
	if fileExists(pidfile) {
		t.Error("pid file left behind")
	}
	log := stderr.String()
	for _, want := range []string{`"msg":"connected -- Connect from ann(unknown)@127.0.0.1 to 127.0.0.1 (`, `"msg":"stopped"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestPasswdCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	code, _, stderr := runSockd(t, "first\n", "passwd", "--file", file, "--cost", "4", "zoe")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, _, stderr = runSockd(t, "second", "passwd", "--file", file, "--cost", "4", "yan")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	p, err := auth.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Verify("zoe", "first") || !p.Verify("yan", "second") || p.Verify("zoe", "second") {
		t.Fatal("passwords not stored as given")
	}
	data, _ := os.ReadFile(file)
	if strings.Contains(string(data), "first") {
		t.Fatal("password stored in clear")
	}
	if code, _, _ := runSockd(t, "", "passwd", "--file", file, "--cost", "4", "zoe"); code == ExitOK {
		t.Fatal("empty password accepted")
	}
	if code, _, _ := runSockd(t, "x\n", "passwd", "--file", file, "bad:name"); code != ExitUsage {
		t.Fatalf("bad user name: exit %d", code)
	}
	if code, _, _ := runSockd(t, "x\n", "passwd", "--file", file); code != ExitUsage {
		t.Fatalf("no user: exit %d", code)
	}
}

// TestServeSyslog runs the daemon with --syslog against a real datagram
// socket standing in for /dev/log: the session lines arrive as 4.3 wrote
// them (tag sockd, daemon.notice, no level, no fields).
func TestServeSyslog(t *testing.T) {
	dir := t.TempDir()
	conf := testnet.WriteFileIn(t, dir, "sockd.conf", "permit 127.0.0.0 255.0.0.0\n")
	sock := filepath.Join(dir, "log")
	devlog := testnet.ListenUnixgram(t, sock)
	lines := make(chan string, 100)
	go func() {
		b := make([]byte, 8192)
		for {
			n, err := devlog.Read(b)
			if err != nil {
				close(lines)
				return
			}
			lines <- string(b[:n])
		}
	}()
	next := func(re *regexp.Regexp) []string {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("syslog socket closed")
				}
				if m := re.FindStringSubmatch(l); m != nil {
					return m
				}
			case <-timeout:
				t.Fatalf("no syslog line matching %s", re)
			}
		}
	}
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()

	done := make(chan int, 1)
	go func() {
		done <- Main("sockd", []string{"-c", conf, "--listen", "127.0.0.1:0", "--syslog", "--syslog-socket", sock,
			"--drain-timeout", "5s"}, strings.NewReader(""), io.Discard, io.Discard)
	}()
	head := `^<(\d+)>[A-Z][a-z]{2} [ 1-3][0-9] \d\d:\d\d:\d\d sockd\[` + strconv.Itoa(os.Getpid()) + `\]: `
	addr := next(regexp.MustCompile(head + `listening address=(127\.0\.0\.1:\d+)`))[2]

	c, err := net.DialTimeout("tcp", addr, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	ea := echo.Addr().(*net.TCPAddr).AddrPort()
	req, _ := socks.AppendV4Request(nil, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ea), UserID: "don"})
	c.Write(req)
	reply := make([]byte, socks.V4ReplyLen)
	if _, err := io.ReadFull(c, reply); err != nil || reply[1] != byte(socks.V4Granted) {
		t.Fatalf("reply %v, %v", reply, err)
	}
	c.Close()
	port := strconv.Itoa(int(ea.Port()))
	m := next(regexp.MustCompile(head + `connected -- Connect from don\(unknown\)@127\.0\.0\.1 to 127\.0\.0\.1 \(` + port + `\)$`))
	if m[1] != "29" { // daemon.notice
		t.Errorf("priority %s, want 29 (daemon.notice)", m[1])
	}
	// As sockd(8) shows them: the byte counts follow on a line of their own.
	next(regexp.MustCompile(head + `terminated -- Connect from don\(unknown\)@127\.0\.0\.1 to 127\.0\.0\.1 \(` + port + `\)\.$`))
	next(regexp.MustCompile(head + `0 bytes from 127\.0\.0\.1, 0 bytes from 127\.0\.0\.1$`))

	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop on SIGTERM")
	}
}

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
