// Package socksifytest starts the real sockd and plain destinations for
// the tests of libsocks, libsockswrap and socks run, so that each can
// check sockd's log: a test cannot pass by connecting directly.
package socksifytest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/server"
	"github.com/sockd/sockd/internal/testnet"
)

// Log is sockd's log, safe to read while sockd writes it.
type Log struct{ testnet.Buffer }

// Wait waits (at most 20 s) until the log contains want.
func (l *Log) Wait(t testing.TB, want string) {
	t.Helper()
	if !testnet.Eventually(20*time.Second, 10*time.Millisecond, func() bool { return strings.Contains(l.String(), want) }) {
		t.Fatalf("sockd's log never said %q; it says:\n%s", want, l.String())
	}
}

// WaitCount waits (at most 20 s) until the log contains want n times.
func (l *Log) WaitCount(t testing.TB, want string, n int) {
	t.Helper()
	if !testnet.Eventually(20*time.Second, 10*time.Millisecond, func() bool { return strings.Count(l.String(), want) >= n }) {
		t.Fatalf("sockd's log has fewer than %d lines %q:\n%s", n, want, l.String())
	}
}

// Sockd runs sockd on 127.0.0.1, permitting loopback clients, and returns
// its address.
func Sockd(t testing.TB) (string, *Log) {
	t.Helper()
	return SockdOn(t, "127.0.0.1")
}

// SockdOn runs sockd on ip (port 0), permitting loopback clients: a
// second server of a chain must not be on 127.0.0.1, which clients always
// reach directly.
func SockdOn(t testing.TB, ip string) (string, *Log) {
	t.Helper()
	return start(t, ip, "")
}

// SockdUserPass runs sockd on 127.0.0.1 requiring SOCKS5 username and
// password (RFC 1929) of user with password, and writes the credentials
// file a client needs (readable by its owner only).
func SockdUserPass(t testing.TB, user, password string) (addr string, logs *Log, credentials string) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "sockd.passwd")
	if err := os.WriteFile(pw, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, logs = start(t, "127.0.0.1", pw)
	credentials = filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(credentials, []byte("socks5://"+addr+" "+user+" "+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return addr, logs, credentials
}

func start(t testing.TB, ip, passwd string) (string, *Log) {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "sockd.conf")
	os.WriteFile(conf, []byte("permit 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n"), 0o600)
	logs := &Log{}
	return Serve(t, server.Options{ConfigPath: conf, PasswdPath: passwd, Logger: logline.New(logs, logline.FormatText, slog.LevelDebug)}, ip), logs
}

// Serve runs a sockd with opts on ip:0 until the test ends and returns
// its address.
func Serve(t testing.TB, opts server.Options, ip string) string {
	t.Helper()
	s, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

// HTTP serves "hello from IP" on ip:0 and returns host and port.
func HTTP(t testing.TB, ip string) (string, string) {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", ip)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	return host, port
}

// SocksConf writes a socks.conf: 127.0.0.3 denied, 127.0.0.4 direct, the
// rest of 127/8 through proxy (127.0.0.1 itself is always direct).
func SocksConf(t testing.TB, proxy string) string {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "socks.conf")
	text := "deny 127.0.0.3 255.255.255.255\n" +
		"direct 127.0.0.4 255.255.255.255\n" +
		"sockd @=socks5://" + proxy + " 127.0.0.0 255.0.0.0\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf
}
