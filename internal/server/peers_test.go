package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/net/proxy"

	"github.com/sockd/sockd/internal/auth"
	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/internal/testnet/peer"
)

// needPeer fails (never skips) when a peer program is missing: the
// project's test command installs them.
func needPeer(t *testing.T, path, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %s (apt-get install -y %s)", path, pkg, pkg)
	}
	return p
}

func runPeer(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "http_proxy=", "https_proxy=", "all_proxy=", "no_proxy=", "HTTP_PROXY=", "ALL_PROXY=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestCurl(t *testing.T) {
	withServers(t, permitLoopback, nil, func(t *testing.T, srv *testServer) {
		ts, body := httpTarget(t)
		_, port := hostPort(t, ts.Listener.Addr().String())
		for _, flag := range []string{"--socks4", "--socks4a", "--socks5", "--socks5-hostname"} {
			t.Run(flag, func(t *testing.T) {
				url := "http://127.0.0.1:" + portString(port) + "/"
				if flag == "--socks4a" || flag == "--socks5-hostname" {
					url = "http://localhost:" + portString(port) + "/" // the server resolves it
				}
				out, err := curlVia(t, flag, srv.addr, url)
				if err != nil || out != body {
					t.Fatalf("curl %s: %v: %q", flag, err, out)
				}
			})
		}
		contains(t, srv.log, "connected -- Connect from (unknown)@127.0.0.1 to 127.0.0.1 (")
		contains(t, srv.log, "to localhost (")
		contains(t, srv.log, "terminated -- Connect from ")
	})
}

// TestCurlRefused: a refusal reaches curl as an error, not a hang.
func TestCurlRefused(t *testing.T) {
	withServers(t, "deny 0.0.0.0 0.0.0.0\n", nil, func(t *testing.T, srv *testServer) {
		ts, _ := httpTarget(t)
		for _, flag := range []string{"--socks4", "--socks5"} {
			out, err := curlVia(t, flag, srv.addr, ts.URL)
			if err == nil {
				t.Fatalf("curl %s succeeded through a deny-all server: %q", flag, out)
			}
		}
		contains(t, srv.log, "refused -- Connect from")
	})
}

func passwdFile(t *testing.T, users ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "passwd")
	for i := 0; i+1 < len(users); i += 2 {
		if err := auth.SetPassword(p, users[i], users[i+1], bcrypt.MinCost); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestCurlUserPass(t *testing.T) {
	pw := passwdFile(t, "alice", "wonderland")
	// Only alice may go out: the authenticated name is the rule's user.
	withServers(t, "permit *=alice 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n", func(o *Options) { o.PasswdPath = pw }, func(t *testing.T, srv *testServer) {
		ts, body := httpTarget(t)
		out, err := curlVia(t, "--socks5", srv.addr, ts.URL, "-U", "alice:wonderland")
		if err != nil || out != body {
			t.Fatalf("curl with the right password: %v: %q", err, out)
		}
		out, err = curlVia(t, "--socks5", srv.addr, ts.URL, "-U", "alice:wrong")
		if err == nil {
			t.Fatalf("curl with a wrong password succeeded: %q", out)
		}
		out, err = curlVia(t, "--socks5", srv.addr, ts.URL)
		if err == nil {
			t.Fatalf("curl without credentials succeeded: %q", out)
		}
		contains(t, srv.log, "connected -- Connect from alice(unknown)@127.0.0.1")
		contains(t, srv.log, "authentication failed for user alice")
		contains(t, srv.log, "no acceptable authentication method")
	})
}

func TestProxychains(t *testing.T) {
	withServers(t, permitLoopback, nil, func(t *testing.T, srv *testServer) {
		pc := needPeer(t, "proxychains4", "proxychains4")
		curl := needPeer(t, "curl", "curl")
		ts, body := httpTarget(t)
		host, port := hostPort(t, srv.addr)
		for _, proto := range []string{"socks4", "socks5"} {
			conf := writeFile(t, "proxychains.conf", "strict_chain\nquiet_mode\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n[ProxyList]\n"+
				proto+" "+host+" "+portString(port)+"\n")
			out, err := runPeer(t, pc, "-q", "-f", conf, curl, "-sS", "--max-time", "30", ts.URL)
			if err != nil || !strings.HasSuffix(out, body) {
				t.Fatalf("proxychains4 %s: %v: %q", proto, err, out)
			}
		}
		contains(t, srv.log, "connected -- Connect from")
	})
}

func TestPySocks(t *testing.T) {
	t.Parallel()
	parallelEngines(t, func(t *testing.T) {
		const python = "/usr/bin/python3"
		if _, err := os.Stat(python); err != nil {
			t.Fatalf("%s not found: install the Debian packages python3 and python3-socks", python)
		}
		if out, err := runPeer(t, python, "-I", "-c", "import socks; socks.socksocket"); err != nil {
			t.Fatalf("PySocks is not importable (install python3-socks): %v %s", err, out)
		}
		srv := startServer(t, permitLoopback, nil)
		echo := echoTarget(t, "tcp", "127.0.0.1:0")
		_, eport := hostPort(t, echo.Addr().String())
		host, port := hostPort(t, srv.addr)
		script := `
import socks, sys
kind, rdns, dst = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
s = socks.socksocket()
s.settimeout(30)
s.set_proxy({"4": socks.SOCKS4, "5": socks.SOCKS5}[kind], sys.argv[4], int(sys.argv[5]), rdns=rdns)
s.connect((dst, int(sys.argv[6])))
s.sendall(b"ping")
print(s.recv(4).decode(), end="")
`
		for _, c := range []struct{ kind, rdns, dst string }{
			{"4", "0", "127.0.0.1"}, {"4", "1", "localhost"}, {"5", "0", "127.0.0.1"}, {"5", "1", "localhost"},
		} {
			out, err := runPeer(t, python, "-I", "-c", script, c.kind, c.rdns, c.dst, host, portString(port), portString(eport))
			if err != nil || out != "ping" {
				t.Errorf("PySocks SOCKS%s rdns=%s: %v: %q", c.kind, c.rdns, err, out)
			}
		}
	})
}

func TestXNetProxy(t *testing.T) {
	t.Parallel()
	parallelEngines(t, func(t *testing.T) {
		pw := passwdFile(t, "bob", "builder")
		ts, body := httpTarget(t)
		for _, withAuth := range []bool{false, true} {
			srv := startServer(t, permitLoopback, func(o *Options) {
				if withAuth {
					o.PasswdPath = pw
				}
			})
			var a *proxy.Auth
			if withAuth {
				a = &proxy.Auth{User: "bob", Password: "builder"}
			}
			d, err := proxy.SOCKS5("tcp", srv.addr, a, &net.Dialer{Timeout: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
				DialContext: d.(proxy.ContextDialer).DialContext}}
			resp, err := client.Get(ts.URL)
			if err != nil {
				t.Fatalf("auth=%v: %v", withAuth, err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// Keep-alive connections are sessions: close them so the server's
			// shutdown at the end of the test has nothing to drain.
			client.CloseIdleConnections()
			if string(got) != body {
				t.Fatalf("auth=%v: body %q", withAuth, got)
			}
			if withAuth {
				bad, _ := proxy.SOCKS5("tcp", srv.addr, &proxy.Auth{User: "bob", Password: "nope"}, &net.Dialer{Timeout: 30 * time.Second})
				if c, err := bad.Dial("tcp", ts.Listener.Addr().String()); err == nil {
					c.Close()
					t.Fatal("wrong password accepted")
				}
			}
		}
	})
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

func curlVia(t *testing.T, proxyFlag, proxy, url string, extra ...string) (string, error) {
	t.Helper()
	curl := needPeer(t, "curl", "curl")
	args := append([]string{"-sS", "--max-time", "30", proxyFlag, proxy}, extra...)
	return runPeer(t, curl, append(args, url)...)
}
