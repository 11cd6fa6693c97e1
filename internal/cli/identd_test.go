package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/ident"
	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/server"
	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// inNetns is set in the copy of the test binary that runs inside a fresh
// network namespace, where port 113 of every loopback address is ours:
// other tests (oidentd on 127.0.0.1:113 and 127.0.0.2:113) run meanwhile in
// the machine's namespace and cannot clash.
const inNetns = "SOCKD_TEST_IN_NETNS"

// runInNetns re-runs the test named run in a new network namespace (unshare
// -n, with loopback up) and reports its output; it returns false in that
// copy, which then does the work.
func runInNetns(t *testing.T, run string) bool {
	t.Helper()
	if os.Getenv(inNetns) != "" {
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Fatalf("ip link set lo up: %v: %s", err, out)
		}
		return false
	}
	if os.Geteuid() != 0 {
		t.Skip("a network namespace and port 113 need root")
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (scripts/install-test-deps installs it)", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-n", "--", os.Args[0], "-test.run", "^"+run+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), inNetns+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in a network namespace: %v\n%s", err, out)
	}
	t.Logf("in a network namespace:\n%s", out)
	return true
}

// startOurIdentd runs "socks identd" in a process of its own (it drops to
// nobody), with its default address (port 113 of every address, IPv4 and
// IPv6 on one socket), and returns its pid.
func startOurIdentd(t *testing.T, extra ...string) int {
	t.Helper()
	args := append([]string{"identd", "--read-timeout", "20s"}, extra...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "SOCKD_CLI_MAIN=socks")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	var logged strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logged.WriteString(sc.Text() + "\n")
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	t.Cleanup(func() {
		testnet.Terminate(cmd, 10*time.Second)
		if t.Failed() {
			t.Logf("identd log:\n%s", logged.String())
		}
	})
	listening := 0
	timeout := time.After(30 * time.Second)
	for listening < 1 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("identd exited at start")
			}
			if strings.Contains(l, "identd listening") {
				listening++
			}
		case <-timeout:
			t.Fatal("identd did not start")
		}
	}
	return cmd.Process.Pid
}

// processUID reads the real uid of pid from /proc.
func processUID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^Uid:\s+(\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no Uid in /proc/%d/status", pid)
	}
	uid, _ := strconv.Atoi(string(m[1]))
	return uid
}

// testUser creates a system user for the test (removed at its end).
func testUser(t *testing.T, name string) *user.User {
	t.Helper()
	if _, err := user.Lookup(name); err != nil {
		if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
			t.Fatalf("useradd: %v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("userdel", name).Run() })
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestIdentdPeers runs our identd (socks identd) in a network namespace and
// asks it from three independent clients: sockd -I (the user it logs is the
// identd-confirmed one), this package's query client about a connection
// owned by another system user, and danted's rfc931 method.
func TestIdentdPeers(t *testing.T) {
	if runInNetns(t, "TestIdentdPeers") {
		return
	}
	pid := startOurIdentd(t)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	if got := strconv.Itoa(processUID(t, pid)); got != nobody.Uid {
		t.Errorf("identd runs as uid %s after binding, want nobody (%s)", got, nobody.Uid)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("sockd-I", func(t *testing.T) {
		for _, host := range []string{"127.0.0.1", "::1"} {
			conf := testnet.WriteFileT(t, "sockd.conf", "permit 127.0.0.0 255.0.0.0\npermit ::1/128\n")
			logs := &testnet.Buffer{}
			s, err := server.New(server.Options{ConfigPath: conf, IdentMode: policy.IdentModeStrict, IdentTimeout: 20 * time.Second,
				Logger: logline.New(logs, logline.FormatText, slog.LevelDebug)})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
			if err != nil {
				t.Fatal(err)
			}
			go s.Serve(ln)
			dst := proxyTestEcho(t, "127.0.0.1:0")
			connect := func(userID string) socks.V4ReplyCode {
				c, err := net.DialTimeout("tcp", ln.Addr().String(), 20*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				// SOCKS4 carries IPv4 destinations only; the client may
				// come over IPv6.
				req, _ := socks.AppendV4Request(nil, socks.V4Request{Command: socks.V4Connect,
					Dst: socks.AddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), portOfHostPort(dst))), UserID: userID})
				c.Write(req)
				b := make([]byte, socks.V4ReplyLen)
				if _, err := io.ReadFull(c, b); err != nil {
					t.Fatalf("reply: %v\n%s", err, logs)
				}
				return socks.V4ReplyCode(b[1])
			}
			if got := connect(me.Username); got != socks.V4Granted {
				t.Errorf("%s: claimed user confirmed by identd: reply %v, want 90\n%s", host, got, logs)
			}
			if got := connect("mallory"); got != socks.V4IdentMismatch {
				t.Errorf("%s: another user claimed: reply %v, want 93\n%s", host, got, logs)
			}
			waitLog(t, logs, "*Alert*: real user is "+me.Username+", not mallory")
			waitLog(t, logs, "refused -- Connect from mallory("+me.Username+")@"+host)
			waitLog(t, logs, "connected -- Connect from "+me.Username+"("+me.Username+")@"+host)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			s.Shutdown(ctx)
			cancel()
		}
	})

	t.Run("other-user", func(t *testing.T) {
		u := testUser(t, "sockdidtest")
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, host := range []string{"127.0.0.1", "::1"} {
			ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			// nc, run as that user, holds a connection to our listener
			// while its standard input stays open.
			nc := exec.Command("nc", host, strconv.Itoa(int(portOfHostPort(ln.Addr().String()))))
			nc.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
			stdin, _ := nc.StdinPipe()
			if err := nc.Start(); err != nil {
				t.Fatalf("nc: %v", err)
			}
			ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
			c, err := ln.Accept()
			if err != nil {
				t.Fatalf("nc did not connect: %v", err)
			}
			local, remote := tcpAddrPort(c.LocalAddr()), tcpAddrPort(c.RemoteAddr())
			rep, err := ident.Query(context.Background(), local, remote, 20*time.Second)
			if err != nil || rep.UserID != u.Username {
				t.Errorf("%s: identd says %+v, %v; want %s", host, rep, err, u.Username)
			}
			c.Close()
			stdin.Close()
			nc.Process.Kill()
			nc.Wait()
		}
	})

	t.Run("danted-rfc931", func(t *testing.T) {
		if _, err := exec.LookPath("danted"); err != nil {
			t.Fatal("danted is missing (scripts/install-test-deps installs it)")
		}
		dir := t.TempDir()
		port, logFile := startDanted(t, dir, "rfc931", fmt.Sprintf(`socks pass {
	from: 127.0.0.0/8 to: 127.0.0.0/8
	socksmethod: rfc931
	user: %s
	log: connect error
}
socks block {
	from: 0/0 to: 0/0
	log: connect error
}
`, me.Username))
		dst := proxyTestEcho(t, "127.0.0.1:0")
		// A SOCKS5 client without authentication: danted asks identd who
		// owns the connection and passes it as that user.
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		g, _ := socks.AppendV5Greeting(nil, socks.V5Greeting{Methods: []socks.Method{socks.MethodNoAuth}})
		c.Write(g)
		sel := make([]byte, 2)
		if _, err := io.ReadFull(c, sel); err != nil {
			t.Fatal(err)
		}
		r, _ := socks.AppendV5Request(nil, socks.V5Request{Command: socks.V5Connect,
			Dst: socks.AddrFromAddrPort(netip.MustParseAddrPort(dst))})
		c.Write(r)
		rep := make([]byte, 10)
		if _, err := io.ReadFull(c, rep); err != nil || rep[1] != 0 {
			b, _ := os.ReadFile(logFile)
			t.Fatalf("danted reply %v, %v\n%s", rep, err, b)
		}
		c.Write([]byte("x"))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		var b []byte
		if !testnet.Eventually(20*time.Second, 50*time.Millisecond, func() bool {
			b, _ = os.ReadFile(logFile)
			return strings.Contains(string(b), "rfc931%"+me.Username+"@127.0.0.1")
		}) {
			t.Fatalf("danted's log does not name the identd user rfc931%%%s:\n%s", me.Username, b)
		}
	})
}

func tcpAddrPort(a net.Addr) netip.AddrPort {
	ap := a.(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func portOfHostPort(hostport string) uint16 {
	_, p, _ := net.SplitHostPort(hostport)
	n, _ := strconv.Atoi(p)
	return uint16(n)
}
