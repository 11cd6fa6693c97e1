package server

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/diag"
	"github.com/sockd/sockd/internal/signals"
	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
)

func v4Code(t *testing.T, srv *testServer, dst, user string) socks.V4ReplyCode {
	t.Helper()
	c := dialProxy(t, srv.addr)
	defer c.Close()
	mustWrite(t, c, v4Request(t, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, dst)), UserID: user}))
	return readV4Reply(t, c).Code
}

// TestReload: a broken file keeps the rules in force (and the error is
// logged with its position); a good file swaps them; a session that started
// before the swap keeps its snapshot.
func TestReload(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "permit *=alice 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n", nil)
	echo := echoTarget(t, "tcp", "127.0.0.1:0")
	dst := echo.Addr().String()
	if got := v4Code(t, srv, dst, "alice"); got != socks.V4Granted {
		t.Fatalf("alice before reload: %v", got)
	}
	// A session relaying across the reload.
	long := v4Open(t, srv, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, dst)), UserID: "alice"})
	if r := readV4Reply(t, long); r.Code != socks.V4Granted {
		t.Fatal(r.Code)
	}

	if err := os.WriteFile(srv.confPath, []byte("permit *=bob 127.0.0.0 255.0.0.0\nallow everything\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := srv.Reload()
	if err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	if l := diag.List(nil); !errors.As(err, &l) || len(l) == 0 || l[0].Line != 2 {
		t.Fatalf("want a diagnostic on line 2, got %v", err)
	}
	contains(t, srv.log, "reload failed, keeping the configuration in force")
	contains(t, srv.log, srv.confPath+":2:")
	if got := v4Code(t, srv, dst, "alice"); got != socks.V4Granted {
		t.Fatalf("alice after a failed reload: %v (old rules must stay)", got)
	}

	if err := os.WriteFile(srv.confPath, []byte("permit *=bob 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := v4Code(t, srv, dst, "alice"); got != socks.V4Rejected {
		t.Fatalf("alice after reload: %v", got)
	}
	if got := v4Code(t, srv, dst, "bob"); got != socks.V4Granted {
		t.Fatalf("bob after reload: %v", got)
	}
	// The old session still relays.
	sendThrough(t, long, long, "still here")
}

// TestReloadPasswd: the password file is reloaded with the rules, and a
// broken one keeps the old passwords.
func TestReloadPasswd(t *testing.T) {
	t.Parallel()
	pw := passwdFile(t, "erin", "one")
	srv := startServer(t, permitLoopback, func(o *Options) { o.PasswdPath = pw })
	if err := os.WriteFile(pw, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err == nil {
		t.Fatal("broken password file accepted")
	}
	if !srv.snap.Load().passwords.Verify("erin", "one") {
		t.Fatal("old passwords lost after a failed reload")
	}
	os.Remove(pw)
	p2 := passwdFile(t, "erin", "two")
	data, _ := os.ReadFile(p2)
	os.WriteFile(pw, data, 0o600)
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if !srv.snap.Load().passwords.Verify("erin", "two") {
		t.Fatal("new password not in force")
	}
}

func TestDumpConfig(t *testing.T) {
	t.Parallel()
	route := writeFile(t, "sockd.route", "127.0.0.1 127.0.0.0 255.0.0.0\n")
	srv := startServer(t, "permit ?=n 127.0.0.0 255.0.0.0 eq telnet\n", func(o *Options) { o.RoutePath = route })
	srv.DumpConfig()
	contains(t, srv.log, "effective configuration file="+srv.confPath+" checksum=")
	contains(t, srv.log, "config: permit ?=n 127.0.0.0 255.0.0.0")
	contains(t, srv.log, "route: 127.0.0.1 127.0.0.0 255.0.0.0")
}

// TestShellCommand: the decision's command runs (in the background) with
// its %-expansions.
func TestShellCommand(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "ran")
	srv := startServer(t, "deny 0.0.0.0 0.0.0.0 : echo refused %u %c >"+out+"\n", nil)
	if got := v4Code(t, srv, "127.0.0.1:80", "zed"); got != socks.V4Rejected {
		t.Fatal(got)
	}
	waitFor(t, "the shell command", func() bool {
		b, _ := os.ReadFile(out)
		return string(b) == "refused zed connect\n"
	})
}

// TestShutdownDrains: Shutdown waits for a running session, then its
// deadline closes it.
func TestShutdownDrains(t *testing.T) {
	t.Parallel()
	srv := startServer(t, permitLoopback, nil)
	echo := echoTarget(t, "tcp", "127.0.0.1:0")
	c := v4Open(t, srv, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, echo.Addr().String())), UserID: "u"})
	readV4Reply(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the drain deadline", err)
	}
	if _, err := io.ReadAll(c); err != nil && !isReset(err) {
		t.Fatalf("session not closed: %v", err)
	}
	if _, err := net.DialTimeout("tcp", srv.addr, 5*time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

// TestSIGHUP sends a real SIGHUP to this process.
func TestSIGHUP(t *testing.T) {
	srv := startServer(t, "deny 0.0.0.0 0.0.0.0\n", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := signals.Handle(ctx, srv, time.Second, signals.Hooks{})
	defer func() { cancel(); <-done }()
	os.WriteFile(srv.confPath, []byte(permitLoopback), 0o600)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, "SIGHUP reload", func() bool {
		return strings.Count(srv.log.String(), "configuration loaded") >= 2
	})
	echo := echoTarget(t, "tcp", "127.0.0.1:0")
	if got := v4Code(t, srv, echo.Addr().String(), "u"); got != socks.V4Granted {
		t.Fatalf("after SIGHUP: %v", got)
	}
}

func TestEmbeddedDefault(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/etc/sockd.conf"); err == nil {
		t.Skip("/etc/sockd.conf exists on this machine")
	}
	if _, err := os.Stat("/etc/sockd.fc"); err == nil {
		t.Skip("/etc/sockd.fc exists on this machine")
	}
	logs := &testnet.Buffer{}
	s, err := New(Options{Logger: newTestLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	_ = s
	contains(t, logs, "using the embedded default")
}

// TestInetdConn: the inetd path serves a connection handed over as a file
// descriptor, and refuses a descriptor that is not a socket.
func TestInetdConn(t *testing.T) {
	t.Parallel()
	srv := startServer(t, permitLoopback, nil)
	echo := echoTarget(t, "tcp", "127.0.0.1:0")
	client, serverSide := testnet.TCPPair(t)
	f, err := serverSide.File()
	if err != nil {
		t.Fatal(err)
	}
	serverSide.Close()
	c, err := fileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.ServeConn(c); close(done) }()
	client.SetDeadline(time.Now().Add(30 * time.Second))
	mustWrite(t, client, append(v4Request(t, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, echo.Addr().String())), UserID: "inetd"}), "hi"...))
	if r := readV4Reply(t, client); r.Code != socks.V4Granted {
		t.Fatal(r.Code)
	}
	got := make([]byte, 2)
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "hi" {
		t.Fatalf("%q %v", got, err)
	}
	client.Close()
	testnet.RecvT(t, done, 30*time.Second, "ServeConn to return after the client left")

	nf, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer nf.Close()
	if _, err := fileConn(nf); !errors.Is(err, errNotSocket) {
		t.Fatalf("fileConn(/dev/null) = %v", err)
	}
}

// emfileListener fails Accept with EMFILE a few times, then blocks until
// closed, like a listener in a process out of descriptors.
type emfileListener struct {
	net.Listener
	failures int
	closed   chan struct{}
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.failures > 0 {
		l.failures--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	<-l.closed
	return nil, net.ErrClosed
}

// Addr is a loopback address: Serve asks for it (the open-proxy check).
func (l *emfileListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1080} }

func (l *emfileListener) Close() error {
	select {
	case <-l.closed:
	default:
		close(l.closed)
	}
	return nil
}

// TestAcceptBackoff: running out of descriptors pauses the accept loop
// instead of ending it or spinning.
func TestAcceptBackoff(t *testing.T) {
	t.Parallel()
	logs := &testnet.Buffer{}
	s, err := New(Options{ConfigPath: writeFile(t, "sockd.conf", permitLoopback), Logger: newTestLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	ln := &emfileListener{failures: 3, closed: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	waitFor(t, "three pauses", func() bool { return strings.Count(logs.String(), "accept failed, pausing") == 3 })
	if !strings.Contains(logs.String(), "pause=20ms") {
		t.Errorf("pause did not double: %s", logs.String())
	}
	s.Close()
	if err := testnet.RecvT(t, done, 20*time.Second, "Serve to return after Close"); err != nil {
		t.Fatalf("Serve = %v after Close", err)
	}
}
