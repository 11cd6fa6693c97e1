// Package dist tests what an operator installs: `make install`, the
// systemd units (systemd-analyze verify), socket activation with
// systemd-socket-activate, sd_notify readiness, --user, --metrics-listen,
// --log-file rotation, and two sockd behind Debian's HAProxy speaking the
// PROXY protocol. The daemon runs as a real process built by make install.
package dist

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"

	"golang.org/x/net/proxy"
)

// prefix is where TestMain installs everything (make install PREFIX=...).
var prefix string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sockd-dist")
	if err != nil {
		panic(err)
	}
	prefix = dir
	cmd := exec.Command("make", "-C", "..", "install", "PREFIX="+dir, "SYSCONFDIR="+dir+"/etc")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "make install: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func sockdBin() string { return filepath.Join(prefix, "sbin", "sockd") }

// TestMakeInstall: binaries, units, man pages and completions land in the
// usual places under PREFIX, and the units name the installed binary.
func TestMakeInstall(t *testing.T) {
	for _, f := range []string{"sbin/sockd", "sbin/rsockd", "sbin/srelay", "bin/make_sockdfc", "bin/dump_sockdfc", "bin/make_sockdfr",
		"bin/dump_sockdfr", "bin/make_socksfc", "bin/dump_socksfc", "lib/systemd/system/sockd.service",
		"lib/systemd/system/sockd.socket", "share/man/man8/sockd.8", "share/man/man8/make_sockdfc.8",
		"share/man/man5/sockd.conf.5", "share/man/man5/sockd.route.5", "share/man/man5/socks.conf.5",
		"share/bash-completion/completions/sockd", "etc/default/sockd"} {
		if _, err := os.Stat(filepath.Join(prefix, f)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(prefix, "lib/systemd/system/sockd.service"))
	if !strings.Contains(string(unit), "ExecStart="+sockdBin()+" $SOCKD_ARGS") {
		t.Errorf("the installed unit does not run %s:\n%s", sockdBin(), unit)
	}
	// man(1) finds and renders the installed page.
	out, err := exec.Command("man", "-M", filepath.Join(prefix, "share/man"), "-P", "cat", "sockd.conf").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "permit") {
		t.Errorf("man sockd.conf: %v\n%.300s", err, out)
	}
	// rsockd is sockd under 4.3's other name.
	out, _ = exec.Command(filepath.Join(prefix, "sbin/rsockd"), "--version").Output()
	if !strings.HasPrefix(string(out), "rsockd (sockd toolchain)") {
		t.Errorf("rsockd --version: %q", out)
	}
	// srelay is sockd under srelay's name, with srelay's -v.
	out, _ = exec.Command(filepath.Join(prefix, "sbin/srelay"), "-v").Output()
	if !strings.HasPrefix(string(out), "srelay (sockd toolchain)") {
		t.Errorf("srelay -v: %q", out)
	}
}

// TestUnitsVerify: systemd accepts both units as installed, and the
// service is the one the issue asks for: notify readiness, a reload that
// checks first, a dedicated user with CAP_NET_BIND_SERVICE only.
func TestUnitsVerify(t *testing.T) {
	dir := filepath.Join(prefix, "lib/systemd/system")
	cmd := exec.Command("systemd-analyze", "verify", "--man=no", "sockd.service", "sockd.socket")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	unit, _ := os.ReadFile(filepath.Join(dir, "sockd.service"))
	u := string(unit)
	for _, want := range []string{"Type=notify", "ExecReload=" + sockdBin() + " -t $SOCKD_ARGS\nExecReload=/bin/kill -HUP $MAINPID",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE\n", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n", "NoNewPrivileges=yes",
		"ProtectSystem=strict", "DynamicUser=yes", "User=sockd"} {
		if !strings.Contains(u, want) {
			t.Errorf("sockd.service lacks %q", want)
		}
	}
	out, err = exec.Command("systemd-analyze", "security", "--offline=yes", filepath.Join(dir, "sockd.service")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Overall exposure level for sockd.service: 1.") {
		t.Errorf("systemd-analyze security: want an exposure below 2.0: %v\n%s", err, lastLines(string(out), 3))
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// notifySocket is the service manager's side of sd_notify: a datagram
// socket whose messages arrive on a channel.
type notifySocket struct {
	path string
	msgs chan string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c := testnet.ListenUnixgram(t, path)
	ns := &notifySocket{path: path, msgs: make(chan string, 32)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(ns.msgs)
				return
			}
			ns.msgs <- string(buf[:n])
		}
	}()
	return ns
}

// expect waits (30 s at most: an upper bound) for a message starting with prefix.
func (ns *notifySocket) expect(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-ns.msgs:
			if !ok {
				t.Fatalf("notify socket closed waiting for %q", prefix)
			}
			if strings.HasPrefix(m, prefix) {
				return m
			}
		case <-timeout:
			t.Fatalf("no %q notification within 30 s", prefix)
		}
	}
}

// daemon is a sockd process (possibly under a wrapper) with its stderr.
type daemon struct {
	cmd    *exec.Cmd
	stderr *testnet.Buffer
	done   chan error
}

func start(t *testing.T, env []string, name string, args ...string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(name, args...), stderr: &testnet.Buffer{}, done: make(chan error, 1)}
	d.cmd.Env = append(os.Environ(), env...)
	d.cmd.Stderr = d.stderr
	d.cmd.Stdout = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, d.stderr.String())
		}
	})
	return d
}

// waitOutput waits (20 s at most) until the daemon printed want.
func waitOutput(t *testing.T, d *daemon, want string) {
	t.Helper()
	if !testnet.Eventually(20*time.Second, 10*time.Millisecond, func() bool { return strings.Contains(d.stderr.String(), want) }) {
		t.Fatalf("no %q in the output within 20 s", want)
	}
}

// stop sends SIGTERM and waits for the exit (30 s at most).
func (d *daemon) stop(t *testing.T) error {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop within 30 s")
		return nil
	}
}

// freePort returns a free address below the ephemeral range (32768 and
// up by default): a port picked inside it can become the source port of
// any outgoing loopback connection before the daemon binds it, which the
// busy network tests of other packages, running at the same time, make
// likely.
func freePort(t *testing.T, host string) string {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(20000+rand.IntN(12000))))
		if err != nil {
			continue
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	t.Fatal("no free port between 20000 and 32000")
	return ""
}

func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sockd.conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for dir := filepath.Dir(p); dir != os.TempDir() && dir != "/"; dir = filepath.Dir(dir) {
		os.Chmod(dir, 0o755) // readable after --user too
	}
	return p
}

// echoServer echoes each connection.
func echoServer(t *testing.T) string {
	return testnet.EchoT(t, "tcp", "127.0.0.1:0").Addr().String()
}

// echoThrough dials target through the SOCKS5 server at proxyAddr from the
// local address from ("" for any) and checks one echo.
func echoThrough(proxyAddr, from, target string) error {
	fwd := &net.Dialer{Timeout: 10 * time.Second}
	if from != "" {
		fwd.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	d, err := proxy.SOCKS5("tcp", proxyAddr, nil, fwd)
	if err != nil {
		return err
	}
	c, err := d.Dial("tcp", target)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ping\n" {
		return fmt.Errorf("echo: %q %v", line, err)
	}
	return nil
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSocketActivation: systemd-socket-activate binds the port and passes
// it in LISTEN_FDS; sockd serves it, says READY=1 once serving, reports a
// reload with RELOADING=1/READY=1, and STOPPING=1 on SIGTERM. Metrics and
// the health check are served beside it.
func TestSocketActivation(t *testing.T) {
	ns := newNotifySocket(t)
	addr := freePort(t, "127.0.0.1")
	metrics := freePort(t, "127.0.0.1")
	conf := writeConf(t, "permit 127.0.0.0 255.0.0.0\n")
	d := start(t, nil, "systemd-socket-activate", "-l", addr, "--fdname=socks", "-E", "NOTIFY_SOCKET="+ns.path,
		sockdBin(), "-c", conf, "--metrics-listen", metrics)
	// systemd-socket-activate starts the program at the first connection,
	// as systemd does; the kernel queues that connection until sockd
	// accepts it.
	waitOutput(t, d, "Listening on "+addr)
	target := echoServer(t)
	if err := echoThrough(addr, "", target); err != nil {
		t.Fatalf("through the activated socket: %v", err)
	}
	ns.expect(t, "READY=1")
	if !strings.Contains(d.stderr.String(), "listening on a socket passed by the service manager address="+addr+" name=socks") {
		t.Errorf("sockd did not say it uses the passed socket:\n%s", d.stderr.String())
	}

	// The session is counted when it ends, just after the client closed.
	deadline := time.Now().Add(20 * time.Second)
	code, body := httpGet(t, "http://"+metrics+"/metrics")
	for !strings.Contains(body, `outcome="relayed"`) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		code, body = httpGet(t, "http://"+metrics+"/metrics")
	}
	for _, want := range []string{`sockd_sessions_total{command="connect",outcome="relayed",protocol="socks5"} 1`,
		`sockd_build_info{version="`, "sockd_sessions_active 0", `sockd_config_info{checksum="`, "go_goroutines", "process_open_fds"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, body := httpGet(t, "http://"+metrics+"/healthz"); code != 200 || !strings.HasPrefix(body, "ok "+conf) {
		t.Errorf("/healthz: %d %q", code, body)
	}

	d.cmd.Process.Signal(syscall.SIGHUP)
	ns.expect(t, "RELOADING=1\nMONOTONIC_USEC=")
	if m := ns.expect(t, "READY=1"); !strings.Contains(m, "configuration reloaded") {
		t.Errorf("after the reload: %q", m)
	}
	if err := d.stop(t); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	ns.expect(t, "STOPPING=1")
}

// TestReloadCheckFirst: the unit's ExecReload runs `sockd -t` with the
// daemon's flags before the SIGHUP; a broken file makes it fail with the
// position of the mistake, so systemctl reload fails and nothing is sent.
func TestReloadCheckFirst(t *testing.T) {
	conf := writeConf(t, "permit 127.0.0.0 255.0.0.0\n")
	out, err := exec.Command(sockdBin(), "-t", "-c", conf, "--listen", "127.0.0.1:1080").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 rules, ok") {
		t.Fatalf("check of a good file: %v %s", err, out)
	}
	os.WriteFile(conf, []byte("permit 127.0.0.0 255.0.0.0\npermit 10.0.0.0 255.0.0.0 gt\n"), 0o644)
	out, err = exec.Command(sockdBin(), "-t", "-c", conf, "--listen", "127.0.0.1:1080").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), conf+":2:") {
		t.Fatalf("check of a broken file: %v\n%s", err, out)
	}
}

// TestUserDrop: started as root with --user nobody, sockd binds, then runs
// with nobody's uid and gid (real, effective, saved and filesystem), and
// still serves and reloads.
func TestUserDrop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("dropping privileges needs root")
	}
	ns := newNotifySocket(t)
	// nobody must reach the notify socket, as everyone reaches systemd's.
	os.Chmod(ns.path, 0o777)
	for dir := filepath.Dir(ns.path); dir != os.TempDir() && dir != "/"; dir = filepath.Dir(dir) {
		os.Chmod(dir, 0o755)
	}
	addr := freePort(t, "127.0.0.1")
	conf := writeConf(t, "permit 127.0.0.0 255.0.0.0\n")
	d := start(t, []string{"NOTIFY_SOCKET=" + ns.path}, sockdBin(), "-c", conf, "--listen", addr, "--user", "nobody")
	ns.expect(t, "READY=1")
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "Uid:") || strings.HasPrefix(line, "Gid:") {
			if f := strings.Fields(line); len(f) != 5 || f[1] != "65534" || f[2] != "65534" || f[3] != "65534" || f[4] != "65534" {
				t.Errorf("after --user nobody: %s", line)
			}
		}
		if strings.HasPrefix(line, "Groups:") && strings.TrimSpace(strings.TrimPrefix(line, "Groups:")) != "65534" {
			t.Errorf("supplementary groups kept: %s", line)
		}
	}
	if err := echoThrough(addr, "", echoServer(t)); err != nil {
		t.Fatalf("after dropping privileges: %v", err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	ns.expect(t, "READY=1")
	if !strings.Contains(d.stderr.String(), "running as user nobody") {
		t.Errorf("no log line about the user")
	}
	if err := d.stop(t); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// TestLogFileReopen: --log-file is reopened on SIGHUP, as logrotate expects.
func TestLogFileReopen(t *testing.T) {
	ns := newNotifySocket(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "sockd.log")
	addr := freePort(t, "127.0.0.1")
	d := start(t, []string{"NOTIFY_SOCKET=" + ns.path}, sockdBin(), "-c", writeConf(t, "permit 127.0.0.0 255.0.0.0\n"),
		"--listen", addr, "--log-file", logPath)
	ns.expect(t, "READY=1")
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	ns.expect(t, "READY=1")
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), "log file reopened") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new log file after SIGHUP: %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	old, _ := os.ReadFile(logPath + ".1")
	if !strings.Contains(string(old), "listening") {
		t.Errorf("the rotated file lost the start-up lines: %q", old)
	}
	if d.stderr.String() != "" {
		t.Errorf("with --log-file, stderr got %q", d.stderr.String())
	}
	d.stop(t)
}

// TestJournaldPriorities: with stderr on the journal (JOURNAL_STREAM names
// it), lines carry sd-daemon priorities and no timestamp.
func TestJournaldPriorities(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	syscall.Fstat(int(f.Fd()), &st)
	cmd := exec.Command(sockdBin(), "-c", writeConf(t, "permit 127.0.0.0 255.0.0.0\n"), "--inetd")
	cmd.Env = append(os.Environ(), fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino))
	cmd.Stderr = f
	cmd.Run() // stdin is not a socket: it logs and exits
	b, _ := os.ReadFile(f.Name())
	if !strings.Contains(string(b), "<5>INFO configuration loaded") {
		t.Errorf("no journald priority prefix: %q", b)
	}
}

// TestHAProxyScaleOut: Debian's HAProxy balances over two sockd instances,
// one sent PROXY protocol version 1 and one version 2, health-checked on
// /healthz. The rules of both see the real client: 127.0.0.5 is permitted
// and 127.0.0.6 refused, whichever instance serves them.
func TestHAProxyScaleOut(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatal("haproxy is needed (apt-get install haproxy; scripts/install-test-deps does it)")
	}
	conf := writeConf(t, "permit 127.0.0.5 255.255.255.255\ndeny 0.0.0.0 0.0.0.0\n")
	type instance struct {
		d             *daemon
		addr, metrics string
	}
	var backends [2]instance
	for i := range backends {
		ns := newNotifySocket(t)
		b := instance{addr: freePort(t, "127.0.0.1"), metrics: freePort(t, "127.0.0.1")}
		b.d = start(t, []string{"NOTIFY_SOCKET=" + ns.path}, sockdBin(), "-c", conf, "--listen", b.addr,
			"--proxy-protocol", "--proxy-trusted", "127.0.0.1", "--metrics-listen", b.metrics)
		ns.expect(t, "READY=1")
		backends[i] = b
	}
	front := freePort(t, "127.0.0.1")
	cfg := fmt.Sprintf(`global
    log stderr format short local0 notice
defaults
    mode tcp
    log global
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
frontend socks
    bind %s
    default_backend sockd
backend sockd
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    server s1 %s send-proxy check port %s inter 200ms
    server s2 %s send-proxy-v2 check port %s inter 200ms
`, front, backends[0].addr, port(backends[0].metrics), backends[1].addr, port(backends[1].metrics))
	cfgPath := filepath.Join(t.TempDir(), "haproxy.cfg")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	if out, err := exec.Command(haproxy, "-c", "-f", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	h := start(t, nil, haproxy, "-db", "-f", cfgPath)
	_ = h
	target := echoServer(t)
	deadline := time.Now().Add(20 * time.Second)
	for echoThrough(front, "127.0.0.5", target) != nil { // until haproxy listens
		if time.Now().After(deadline) {
			t.Fatalf("no relay through haproxy within 20 s: %v", echoThrough(front, "127.0.0.5", target))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Round robin: four connections in a row from each client reach both
	// instances.
	for i := range 4 {
		if err := echoThrough(front, "127.0.0.5", target); err != nil {
			t.Errorf("permitted client, connection %d: %v", i, err)
		}
	}
	for i := range 4 {
		err := echoThrough(front, "127.0.0.6", target)
		if err == nil || !strings.Contains(err.Error(), "not allowed by ruleset") {
			t.Errorf("refused client, connection %d: %v", i, err)
		}
	}
	for i, b := range backends {
		// The log lines may wait up to 10 ms in sockd's batch.
		waitOutput(t, b.d, "connected -- Connect from (unknown)@127.0.0.5")
		waitOutput(t, b.d, "refused -- Connect from (unknown)@127.0.0.6")
		_, body := httpGet(t, "http://"+b.metrics+"/metrics")
		if !strings.Contains(body, `sockd_refusals_total{rule="`+conf+`:2"}`) || !strings.Contains(body, `sockd_proxy_headers_total{outcome="proxied"}`) {
			t.Errorf("instance %d metrics lack refusals by rule or PROXY headers", i+1)
		}
	}
	// One instance stopped (its listener closed, /healthz down): haproxy
	// redispatches to the other until its health check takes it out, so
	// no client notices.
	if err := backends[0].d.stop(t); err != nil {
		t.Errorf("instance 1 exit: %v", err)
	}
	for i := range 4 {
		if err := echoThrough(front, "127.0.0.5", target); err != nil {
			t.Errorf("with one instance stopped, connection %d: %v", i, err)
		}
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
