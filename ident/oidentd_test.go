package ident

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"syscall"
	"testing"
	"time"
)

const oidentdPath = "/usr/sbin/oidentd"

// TestQueryRealOidentd asks a real oidentd, on the real port 113, who owns a
// loopback connection that this process holds. Port 113 needs root; as root
// a missing oidentd is a failure, not a skip, so that CI cannot pass without
// having run it.
func TestQueryRealOidentd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the real identd test binds port 113 and needs root")
	}
	if _, err := os.Stat(oidentdPath); err != nil {
		t.Fatalf("%s is missing (%v): install the Debian package oidentd "+
			"(`make test` does it through scripts/install-test-deps)", oidentdPath, err)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	startOidentd(t)

	// The "SOCKS connection": this process is both the client and the
	// server, so identd must name our user as the owner of the client end.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	clientConn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer clientConn.Close()
	serverConn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer serverConn.Close()

	local := serverConn.LocalAddr().(*net.TCPAddr).AddrPort()
	remote := serverConn.RemoteAddr().(*net.TCPAddr).AddrPort()
	reply, err := Query(context.Background(), local, remote, 10*time.Second)
	if err != nil {
		t.Fatalf("Query(%v, %v): %v", local, remote, err)
	}
	if reply.UserID != me.Username || reply.OS == "" {
		t.Errorf("oidentd answered %+v, want user %q", reply, me.Username)
	}

	// Asking about a connection that does not exist yields an ERROR reply
	// (oidentd says NO-USER), which the policy counts as unreachable.
	nobody := netip.AddrPortFrom(remote.Addr(), 1)
	_, err = Query(context.Background(), local, nobody, 10*time.Second)
	if !errors.Is(err, ErrIdentError) {
		t.Errorf("query for a connection nobody owns: %v, want ErrIdentError", err)
	}
}

// startOidentd runs oidentd in the foreground on 127.0.0.1:113 until the
// test ends, and waits until it accepts connections.
func startOidentd(t *testing.T) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(oidentdPath, "-i", "-S", "-a", "127.0.0.1", "-p", "113")
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start oidentd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err // let the cleanup see it too
			// Another test binary may run its own oidentd on port 113 at
			// the same time; any identd there answers for this host.
			if c, dialErr := net.DialTimeout("tcp", "127.0.0.1:113", time.Second); dialErr == nil {
				c.Close()
				t.Logf("oidentd could not bind (%v: %s); using the identd already on port 113", err, stderr.String())
				return
			}
			t.Fatalf("oidentd exited before serving (%v): %s", err, stderr.String())
		default:
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:113", time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("oidentd did not listen on 127.0.0.1:113 within 20s: %s", stderr.String())
}
