package cli

// srelay's command line, and srelay against real peers: the daemon is
// built and run as a process under the name srelay (its own command line,
// files and access rules), with curl as the client, tinyproxy as an HTTP
// CONNECT next hop, danted and a second daemon as SOCKS next hops.

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
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/srelay"
	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/internal/testnet/peer"
	"golang.org/x/crypto/bcrypt"
)

var srelayBuilt testnet.Built

// srelayBinary builds the daemon once for the tests that run it as a
// process of its own, and links it as srelay, as make install does; it
// returns the directory holding sockd and srelay.
func srelayBinary(t *testing.T) string {
	t.Helper()
	return srelayBuilt.Dir(t, "srelay-bin", func(dir string) error {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "sockd"), "../../cmd/sockd").CombinedOutput()
		if err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
		return os.Symlink("sockd", filepath.Join(dir, "srelay"))
	})
}

var listeningRE = regexp.MustCompile(`listening address=(\S+)`)

// runDaemon starts name (srelay or sockd) with args, waits until it
// listens, and stops it when the test ends. It returns the address and
// the log.
func runDaemon(t *testing.T, name string, args ...string) (string, *testnet.Buffer) {
	t.Helper()
	cmd := exec.Command(filepath.Join(srelayBinary(t), name), args...)
	log := &testnet.Buffer{}
	cmd.Stderr, cmd.Stdout = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		testnet.Terminate(cmd, 15*time.Second)
		if t.Failed() {
			t.Logf("%s log:\n%s", name, log.String())
		}
	})
	var m []string
	if !testnet.Eventually(20*time.Second, 20*time.Millisecond, func() bool {
		m = listeningRE.FindStringSubmatch(log.String())
		return m != nil
	}) {
		t.Fatalf("%s did not start listening:\n%s", name, log.String())
	}
	return m[1], log
}

func waitPort(t *testing.T, port int, what string, log func() string) {
	t.Helper()
	if !testnet.Eventually(20*time.Second, 50*time.Millisecond, func() bool { return testnet.Listening(fmt.Sprintf("127.0.0.1:%d", port)) }) {
		t.Fatalf("%s does not listen on %d:\n%s", what, port, log())
	}
}

// startProc runs a peer in the foreground until the test ends.
func startProc(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out testnet.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testnet.Terminate(cmd, 10*time.Second) })
}

func needPeer(t *testing.T, names ...string) {
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if _, err := os.Stat("/usr/sbin/" + n); err != nil {
				t.Skipf("%s not installed (scripts/install-test-deps installs it)", n)
			}
		}
	}
}

// destination is an HTTP server on loopback that answers with the
// address the connection came from.
func destination(t *testing.T) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintf(w, "hello from %s\n", host)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func curl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("curl", append([]string{"-sS", "--max-time", "30"}, args...)...).CombinedOutput()
	return string(out), err
}

func tinyproxy(t *testing.T, dir string, connectPort int) (int, string) {
	t.Helper()
	port := testnet.FreeLoopbackPort(t)
	// tinyproxy drops to nobody before it opens its log: the directory
	// must be reachable by nobody, which t.TempDir (mode 0700) is not.
	logDir, err := os.MkdirTemp("", "tinyproxy-log")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(logDir) })
	os.Chmod(logDir, 0o777)
	logFile := filepath.Join(logDir, "tinyproxy.log")
	conf := fmt.Sprintf("User nobody\nGroup nogroup\nPort %d\nListen 127.0.0.1\nTimeout 60\nLogFile %q\nLogLevel Info\n"+
		"MaxClients 20\nAllow 127.0.0.1\nConnectPort %d\n", port, logFile, connectPort)
	confPath := filepath.Join(dir, "tinyproxy.conf")
	os.WriteFile(confPath, []byte(conf), 0o644)
	startProc(t, "tinyproxy", "-d", "-c", confPath)
	waitPort(t, port, "tinyproxy", func() string { b, _ := os.ReadFile(logFile); return string(b) })
	return port, logFile
}

func danted(t *testing.T, dir string) (int, string) {
	return startDanted(t, dir, "none", `socks pass {
  from: 127.0.0.0/8 to: 127.0.0.0/8
  command: connect bind udpassociate
  protocol: tcp udp
  log: connect disconnect
}
`)
}

// startDanted runs danted on a free loopback port, with socksmethod
// method and the socks rules given, until the test ends. It returns the
// port and danted's log file.
func startDanted(t *testing.T, dir, method, socksRules string) (int, string) {
	t.Helper()
	port := testnet.FreeLoopbackPort(t)
	logFile := filepath.Join(dir, "danted.log")
	args, err := peer.WriteDanted(dir, strconv.Itoa(port), method, socksRules)
	if err != nil {
		t.Fatal(err)
	}
	startProc(t, "danted", args...)
	waitPort(t, port, "danted", func() string { b, _ := os.ReadFile(logFile); return string(b) })
	return port, logFile
}

func readLog(path string) string { b, _ := os.ReadFile(path); return string(b) }

// waitLogOf waits for want in what log() returns: peers write their logs
// after answering.
func waitLogOf(t *testing.T, what, want string, log func() string) {
	t.Helper()
	if !testnet.Eventually(10*time.Second, 50*time.Millisecond, func() bool { return strings.Contains(log(), want) }) {
		t.Errorf("%s log lacks %q:\n%s", what, want, log())
	}
}

// The man page's chain, `Dest any Socks-Island PORT FireWall PORT/H`:
// srelay reaches the HTTP proxy (tinyproxy, the FireWall) first, asks it
// to CONNECT to the SOCKS server (danted, the Socks-Island), which
// connects to the destination. Each hop's log shows its part.
func TestSrelayChainThroughTinyproxyAndDanted(t *testing.T) {
	needPeer(t, "curl", "tinyproxy", "danted")
	dir := t.TempDir()
	dst := destination(t)
	dstAddr := dst.Listener.Addr().(*net.TCPAddr)
	dantePort, danteLog := danted(t, dir)
	tinyPort, tinyLog := tinyproxy(t, dir, dantePort)
	conf := filepath.Join(dir, "srelay.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("# dest  dest-port proxy        proxy-p   proxy2    proxy2-p\n"+
		"127.0.0.1    any       127.0.0.1 %d      127.0.0.1  %d/H\n", dantePort, tinyPort)), 0o644)
	addr, log := runDaemon(t, "srelay", "-i", "127.0.0.1:0", "-c", conf,
		"--hosts-allow", filepath.Join(dir, "none"), "--hosts-deny", filepath.Join(dir, "none"))

	out, err := curl(t, "--socks5", addr, dst.URL)
	if err != nil || !strings.Contains(out, "hello from 127.0.0.1") {
		t.Fatalf("curl through the chain: %v\n%s", err, out)
	}
	waitLogOf(t, "srelay", "connected -- Connect from", log.String)
	waitLogOf(t, "srelay", fmt.Sprintf("http://127.0.0.1:%d", tinyPort), log.String)
	waitLogOf(t, "tinyproxy", fmt.Sprintf("CONNECT 127.0.0.1:%d", dantePort), func() string { return readLog(tinyLog) })
	waitLogOf(t, "danted", fmt.Sprintf("127.0.0.1.%d", dstAddr.Port), func() string { return readLog(danteLog) })
}

// srelay.passwd gives a next hop that requires a password its user and
// password: the next hop is a second daemon with a password file.
func TestSrelayPasswdReachesNextHop(t *testing.T) {
	needPeer(t, "curl")
	dir := t.TempDir()
	dst := destination(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("tutut555"), 4)
	if err != nil {
		t.Fatal(err)
	}
	pw := testnet.WriteFileIn(t, dir, "sockd.passwd", "opopop:"+string(hash)+"\n")
	rules := testnet.WriteFileIn(t, dir, "sockd.conf", "permit *=opopop 127.0.0.0/8 0.0.0.0 0.0.0.0\n")
	hopAddr, hopLog := runDaemon(t, "sockd", "-c", rules, "--passwd", pw, "--auth", "userpass", "--listen", "127.0.0.1:0",
		"--hosts-allow", filepath.Join(dir, "none"), "--hosts-deny", filepath.Join(dir, "none"))
	_, hopPort, _ := net.SplitHostPort(hopAddr)

	conf := testnet.WriteFileIn(t, dir, "srelay.conf", "127.0.0.1 any 127.0.0.1 "+hopPort+"\n")
	passwd := testnet.WriteFileIn(t, dir, "srelay.passwd", "# next-hop server[/port]\tusername\tpassword\n127.0.0.1/"+hopPort+"\topopop\ttutut555\n")
	addr, _ := runDaemon(t, "srelay", "-i", "127.0.0.1:0", "-c", conf, "-u", passwd,
		"--hosts-allow", filepath.Join(dir, "none"), "--hosts-deny", filepath.Join(dir, "none"))
	if out, err := curl(t, "--socks5", addr, dst.URL); err != nil || !strings.Contains(out, "hello from") {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	waitLogOf(t, "next hop", "connected -- Connect from opopop", hopLog.String)

	// Without the password file the next hop refuses.
	addr2, log2 := runDaemon(t, "srelay", "-i", "127.0.0.1:0", "-c", conf,
		"--hosts-allow", filepath.Join(dir, "none"), "--hosts-deny", filepath.Join(dir, "none"))
	if out, err := curl(t, "--socks5", addr2, dst.URL); err == nil {
		t.Fatalf("curl without srelay.passwd succeeded:\n%s", out)
	}
	waitLogOf(t, "srelay", "Failed to connect to sockd at socks5h://127.0.0.1:"+hopPort, log2.String)
}

// hosts.deny refuses a client by address before any SOCKS byte: the
// connection closes without a reply, and the log says why.
func TestSrelayHostsDenyBeforeAnyReply(t *testing.T) {
	dir := t.TempDir()
	deny := testnet.WriteFileIn(t, dir, "hosts.deny", "srelay: 127.0.0.1\n")
	addr, log := runDaemon(t, "srelay", "-i", "127.0.0.1:0", "--hosts-allow", filepath.Join(dir, "none"), "--hosts-deny", deny)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Nothing is sent: the server must close without waiting for a SOCKS
	// byte (bytes sent and unread would turn the close into a reset).
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	if len(b) != 0 || err != nil {
		t.Fatalf("denied client read %q, %v; want no byte, then EOF", b, err)
	}
	// A SOCKS client (curl) is refused the same way: no reply at all.
	if _, err := exec.LookPath("curl"); err == nil {
		if out, err := curl(t, "--socks5", addr, "http://127.0.0.1:9/"); err == nil {
			t.Errorf("curl got through hosts.deny:\n%s", out)
		}
	}
	waitLogOf(t, "srelay", "refused -- connect from 127.0.0.1 by host access rules", log.String)
	waitLogOf(t, "srelay", "hosts.deny:1 matched: denied", log.String)
}

// -g: the destination sees the connection come from the address the
// client reached srelay at (127.0.0.2), not the system's choice.
func TestSrelaySameInterface(t *testing.T) {
	needPeer(t, "curl")
	dir := t.TempDir()
	dst := destination(t)
	none := filepath.Join(dir, "none")
	for _, tc := range []struct {
		flags []string
		want  string
	}{{[]string{"-g"}, "hello from 127.0.0.2"}, {nil, "hello from 127.0.0.1"}} {
		args := append([]string{"-i", "127.0.0.2:0", "--hosts-allow", none, "--hosts-deny", none}, tc.flags...)
		addr, _ := runDaemon(t, "srelay", args...)
		out, err := curl(t, "--socks5", addr, dst.URL)
		if err != nil || strings.TrimSpace(out) != tc.want {
			t.Errorf("srelay %v: %v %q, want %q", tc.flags, err, out, tc.want)
		}
	}
}

// -a p: a real account of this machine (yescrypt, Debian 12's default)
// logs in; a wrong password is refused.
func TestSrelayHostAccounts(t *testing.T) {
	needPeer(t, "curl", "useradd", "chpasswd")
	if os.Geteuid() != 0 {
		t.Skip("creating a system user needs root")
	}
	name := fmt.Sprintf("srelayt%d", os.Getpid()%100000)
	if out, err := exec.Command("useradd", "-M", "-s", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	cp := exec.Command("chpasswd")
	cp.Stdin = strings.NewReader(name + ":yes crypt\n")
	if out, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v %s", err, out)
	}
	if shadow, _ := os.ReadFile("/etc/shadow"); !strings.Contains(string(shadow), name+":$y$") {
		t.Fatalf("%s has no yescrypt hash in /etc/shadow", name)
	}
	dir := t.TempDir()
	dst := destination(t)
	none := filepath.Join(dir, "none")
	addr, log := runDaemon(t, "srelay", "-i", "127.0.0.1:0", "-a", "p", "--hosts-allow", none, "--hosts-deny", none)
	if strings.Contains(log.String(), "serving loopback clients only") {
		t.Error("-a p is access control: srelay must not fall back to loopback only")
	}
	if out, err := curl(t, "--socks5", addr, "-U", name+":yes crypt", dst.URL); err != nil || !strings.Contains(out, "hello from") {
		t.Fatalf("right password: %v\n%s", err, out)
	}
	if out, err := curl(t, "--socks5", addr, "-U", name+":wrong", dst.URL); err == nil {
		t.Fatalf("wrong password got through:\n%s", out)
	}
	waitLogOf(t, "srelay", "refused -- authentication failed for user "+name, log.String)
	// SOCKS4 has no password: with -a p alone it is not served.
	if out, err := curl(t, "--socks4", addr, dst.URL); err == nil {
		t.Fatalf("SOCKS4 got around -a p:\n%s", out)
	}
}

// With no access control at all, srelay serves loopback clients only and
// says how to open it up.
func TestSrelaySafeDefault(t *testing.T) {
	dir := t.TempDir()
	none := filepath.Join(dir, "none")
	_, log := runDaemon(t, "srelay", "-i", "127.0.0.1:0", "--hosts-allow", none, "--hosts-deny", none)
	waitLogOf(t, "srelay", "srelay: no access control configured", log.String)
	waitLogOf(t, "srelay", "serving loopback clients only", log.String)
	allow := testnet.WriteFileIn(t, dir, "hosts.allow", "srelay: 192.0.2.0/24\n")
	_, log2 := runDaemon(t, "srelay", "-i", "127.0.0.1:0", "--hosts-allow", allow, "--hosts-deny", none)
	if strings.Contains(log2.String(), "no access control configured") {
		t.Errorf("a hosts.allow rule for srelay is access control:\n%s", log2.String())
	}
}

// -r: each client's name is logged beside its address (/etc/hosts names
// 127.0.0.1 localhost on Debian; confirmed forward).
func TestSrelayLogsClientNames(t *testing.T) {
	needPeer(t, "curl")
	dir := t.TempDir()
	none := filepath.Join(dir, "none")
	dst := destination(t)
	addr, log := runDaemon(t, "srelay", "-r", "-i", "127.0.0.1:0", "--hosts-allow", none, "--hosts-deny", none)
	if out, err := curl(t, "--socks5", addr, dst.URL); err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	waitLogOf(t, "srelay", "connect from localhost [127.0.0.1]", log.String)
}

// srelay's command line becomes the daemon's flags.
func TestSrelayArgs(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{nil, []string{"--listen", ":1080", "--idle-timeout", "0"}},
		{[]string{"-i", "192.0.2.1", "-i:1234", "-i", "[2001:db8::1]:99", "-i", "[::1]", "-i", "host.example"},
			[]string{"--listen", "192.0.2.1:1080", "--listen", ":1234", "--listen", "[2001:db8::1]:99", "--listen", "[::1]:1080",
				"--listen", "host.example:1080", "--idle-timeout", "0"}},
		{[]string{"-fgtap", "-an", "-o", "5", "-m10", "-c", "s.conf", "-u", "s.passwd", "-p", "pid", "-s", "-b", "-r"},
			[]string{"--same-interface", "--idle-timeout", "5m", "--max-clients", "10", "--credentials", "s.passwd",
				"--pidfile", "pid", "--syslog", "--bind-any-port", "--log-client-names", "--srelay-conf", "s.conf",
				"--listen", ":1080", "--auth", "userpass,none", "--auth-system"}},
		// What a --workers supervisor passes on is kept as it is.
		{[]string{"--listen", "127.0.0.1:0", "--srelay-conf", "x.conf", "--idle-timeout", "1m", "--syslog"},
			[]string{"--listen", "127.0.0.1:0", "--srelay-conf", "x.conf", "--idle-timeout", "1m", "--syslog"}},
	} {
		sc, err := srelay.Translate(tc.in, longTakesValue)
		got, done := sc.Args, sc.Help || sc.Version
		if err != nil || done || !slices.Equal(got, tc.want) {
			t.Errorf("srelay %q:\n got %q %v\nwant %q", tc.in, got, err, tc.want)
		}
	}
}
