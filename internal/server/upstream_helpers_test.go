package server

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/internal/testnet/peer"
)

// freePort returns a port that was free on host a moment ago, for a
// destination on another loopback address than testnet's 127.0.0.1.
func freePort(t *testing.T, host string) int {
	t.Helper()
	ln := testnet.ListenT(t, "tcp", host+":0")
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitListening polls until addr accepts connections (20 s at most).
func waitListening(t *testing.T, addr string) {
	t.Helper()
	waitFor(t, addr+" listening", func() bool { return testnet.Listening(addr) })
}

// startProcess runs a peer until the test ends; its output goes to a file
// shown when the test fails.
func startProcess(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(name)+".out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("%s output:\n%s", name, b)
		}
	})
}

const (
	testSysUser = "sockdupstream"
	testSysPass = "chain-Pass-42"
)

var sysUserOnce sync.Once
var sysUserErr error

// systemUser creates the system user danted's username method checks
// (it authenticates against the system's users), once per run.
func systemUser(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("danted's username authentication checks system users: creating one needs root")
	}
	sysUserOnce.Do(func() {
		if _, err := exec.Command("id", testSysUser).CombinedOutput(); err != nil {
			if out, err := exec.Command("useradd", "-M", "-s", "/usr/sbin/nologin", testSysUser).CombinedOutput(); err != nil {
				sysUserErr = fmt.Errorf("useradd: %v: %s", err, out)
				return
			}
		}
		cmd := exec.Command("chpasswd")
		cmd.Stdin = strings.NewReader(testSysUser + ":" + testSysPass + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			sysUserErr = fmt.Errorf("chpasswd: %v: %s", err, out)
		}
	})
	if sysUserErr != nil {
		t.Fatal(sysUserErr)
	}
}

// startDanted runs danted on 127.0.0.1 with socksmethod none or username,
// passing connect, bind and udp to loopback; it returns host:port.
func startDanted(t *testing.T, method string) string {
	t.Helper()
	danted := needPeer(t, "danted", "dante-server")
	if os.Geteuid() != 0 {
		t.Skip("danted needs root here (user.privileged root)")
	}
	if method == "username" {
		systemUser(t)
	}
	dir := t.TempDir()
	port := testnet.FreeLoopbackPort(t)
	args, err := peer.WriteDanted(dir, strconv.Itoa(port), method, `socks pass {
	from: 127.0.0.0/8 to: 127.0.0.0/8
	command: connect bind udpassociate
	protocol: tcp udp
}
socks pass {
	from: 127.0.0.0/8 to: 127.0.0.0/8
	command: bindreply udpreply
}
`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "danted.log"))
			t.Logf("danted log:\n%s", b)
		}
	})
	startProcess(t, danted, args...)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitListening(t, addr)
	return addr
}

// startMicrosocks runs microsocks (SOCKS5, no authentication) on
// 127.0.0.1; it returns host:port.
func startMicrosocks(t *testing.T) string {
	t.Helper()
	ms := needPeer(t, "microsocks", "microsocks")
	port := testnet.FreeLoopbackPort(t)
	startProcess(t, ms, "-i", "127.0.0.1", "-p", fmt.Sprint(port))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitListening(t, addr)
	return addr
}

// httpConnectProxy is a small HTTP CONNECT proxy; with user set it wants
// Basic Proxy-Authorization. It records the targets it was asked for.
type httpConnectProxy struct {
	addr       string
	user, pass string
	mu         sync.Mutex
	targets    []string
}

func startHTTPProxy(t *testing.T, user, pass string) *httpConnectProxy {
	t.Helper()
	ln := testnet.ListenT(t, "tcp", "127.0.0.1:0")
	p := &httpConnectProxy{addr: ln.Addr().String(), user: user, pass: pass}
	go testnet.Serve(ln, p.serve)
	return p
}

func (p *httpConnectProxy) serve(c net.Conn) {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method != http.MethodConnect {
		io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
		return
	}
	if p.user != "" {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(p.user+":"+p.pass))
		if req.Header.Get("Proxy-Authorization") != want {
			io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
			return
		}
	}
	p.mu.Lock()
	p.targets = append(p.targets, req.Host)
	p.mu.Unlock()
	out, err := net.DialTimeout("tcp", req.Host, 10*time.Second)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	defer out.Close()
	c.SetDeadline(time.Time{})
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() { io.Copy(out, br); out.(*net.TCPConn).CloseWrite() }()
	io.Copy(c, out)
}

func (p *httpConnectProxy) asked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}

// httpTargetOn is httpTarget listening on a chosen loopback address (not
// 127.0.0.1, which socks.conf always reaches directly, as 4.3 did).
func httpTargetOn(t *testing.T, host string) (string, string) {
	t.Helper()
	const body = "hello through the chain"
	ln := testnet.ListenT(t, "tcp", host+":0")
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, body)
	}))
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.URL, body
}

// hangingServer accepts connections and never answers.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln := testnet.ListenT(t, "tcp", "127.0.0.1:0")
	testnet.Hold(t, ln, func(net.Conn) {})
	return ln.Addr().String()
}

func curlVia(t *testing.T, proxyFlag, proxy, url string, extra ...string) (string, error) {
	t.Helper()
	curl := needPeer(t, "curl", "curl")
	args := append([]string{"-sS", "--max-time", "30", proxyFlag, proxy}, extra...)
	return runPeer(t, curl, append(args, url)...)
}
