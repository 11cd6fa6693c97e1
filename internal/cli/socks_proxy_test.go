package cli

import (
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/auth"
	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/server"
	"github.com/sockd/sockd/internal/socksify/socksifytest"
	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
)

// sockdWith runs a sockd with the rules conf and, if passwd is set, SOCKS5
// username/password against it.
func sockdWith(t *testing.T, conf, passwd string) (string, *testnet.Buffer) {
	t.Helper()
	dir := t.TempDir()
	cp := testnet.WriteFileIn(t, dir, "sockd.conf", conf)
	opts := server.Options{ConfigPath: cp}
	if passwd != "" {
		user, pass, _ := strings.Cut(passwd, ":")
		opts.PasswdPath = filepath.Join(dir, "passwd")
		if err := auth.SetPassword(opts.PasswdPath, user, pass, 4); err != nil {
			t.Fatal(err)
		}
		opts.Methods = []socks.Method{socks.MethodUserPass}
	}
	logs := &testnet.Buffer{}
	opts.Logger = logline.New(logs, logline.FormatText, slog.LevelDebug)
	// Registered first, so that it runs after the shutdown and shows the
	// whole log.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sockd log:\n%s", logs)
		}
	})
	return socksifytest.Serve(t, opts, "127.0.0.1"), logs
}

// proxyTestEcho answers every connection with what it reads.
func proxyTestEcho(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go testnet.Serve(ln, func(c net.Conn) { c.SetDeadline(time.Now().Add(30 * time.Second)); io.Copy(c, c) })
	return ln.Addr().String()
}

func runSocksTool(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return runTool(t, "socks", stdin, args...)
}

// TestSocksProxyOptions: with --proxy URL the client still honours --user
// (the SOCKS4 USERID), --credentials (the server's user and password) and
// --timeout, as it does with the rules.
func TestSocksProxyOptions(t *testing.T) {
	echo := proxyTestEcho(t, "127.0.0.2:0")
	host, port, _ := net.SplitHostPort(echo)

	t.Run("user", func(t *testing.T) {
		// SOCKS4: the rule admits alice only.
		v4, v4log := sockdWith(t, "permit *=alice 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n", "")
		code, out, errs := runSocksTool(t, "ping\n", "--proxy", "socks4://"+v4, "--user", "alice", "connect", host, port)
		if code != 0 || out != "ping\n" {
			t.Fatalf("socks4 --user alice: exit %d, out %q, err %s", code, out, errs)
		}
		if !strings.Contains(v4log.String(), "connected -- Connect from alice(unknown)@127.0.0.1") {
			t.Errorf("sockd did not see alice:\n%s", v4log)
		}

	})
	t.Run("credentials", func(t *testing.T) {
		// SOCKS5 username/password from the credentials file.
		v5, _ := sockdWith(t, "permit *=bob 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n", "bob:s3cret")
		creds := testnet.WriteFileT(t, "credentials", "socks5://"+v5+" bob s3cret\n")
		code, out, errs := runSocksTool(t, "pong\n", "--proxy", "socks5://"+v5, "--credentials", creds, "connect", host, port)
		if code != 0 || out != "pong\n" {
			t.Fatalf("socks5 --credentials: exit %d, out %q, err %s", code, out, errs)
		}

	})
	t.Run("timeout", func(t *testing.T) {
		// A server that accepts and never answers: --timeout ends the attempt.
		hang, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer hang.Close()
		var held []net.Conn
		go func() {
			for {
				c, err := hang.Accept()
				if err != nil {
					return
				}
				held = append(held, c)
			}
		}()
		start := time.Now()
		var code int
		var errs string
		done := make(chan struct{})
		go func() {
			defer close(done)
			code, _, errs = runSocksTool(t, "", "--proxy", "socks5://"+hang.Addr().String(), "--timeout", "1s", "connect", host, port)
		}()
		select {
		case <-done:
		case <-time.After(25 * time.Second):
			t.Fatal("--timeout 1s: still waiting after 25 s")
		}
		if code == 0 || !strings.Contains(errs, "timeout") {
			t.Errorf("--timeout: exit %d after %v, stderr %s", code, time.Since(start), errs)
		}
	})
}
