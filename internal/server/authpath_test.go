package server

import (
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/auth"
	"github.com/sockd/sockd/socks"
	"golang.org/x/crypto/bcrypt"
)

// countingTarget counts the connections a destination receives.
func countingTarget(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), &n
}

// TestNoPathAroundAuth: with username/password required, no sequence of
// bytes reaches CONNECT, BIND or UDP ASSOCIATE without a successful
// sub-negotiation; only the complete one does.
func TestNoPathAroundAuth(t *testing.T) {
	t.Parallel()
	pw := filepath.Join(t.TempDir(), "passwd")
	if err := auth.SetPassword(pw, "alice", "right", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, "permit 0.0.0.0 0.0.0.0\n", func(o *Options) { o.PasswdPath = pw; o.HandshakeTimeout = 10 * time.Second })
	dst, hits := countingTarget(t)
	greet := func(methods ...socks.Method) []byte {
		b, _ := socks.AppendV5Greeting(nil, socks.V5Greeting{Methods: methods})
		return b
	}
	userpass := func(u, p string) []byte {
		b, _ := socks.AppendUserPass(nil, socks.UserPass{Username: u, Password: p})
		return b
	}
	request := func(cmd socks.V5Command) []byte {
		b, _ := socks.AppendV5Request(nil, socks.V5Request{Command: cmd, Dst: socks.AddrFromAddrPort(ap(t, dst))})
		return b
	}
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name string
		send []byte
		want []byte // all the server may answer before it closes
	}{
		{"no-auth only, then CONNECT", cat(greet(socks.MethodNoAuth), request(socks.V5Connect)), []byte{5, 0xff}},
		{"GSSAPI only, then CONNECT", cat(greet(1), request(socks.V5Connect)), []byte{5, 0xff}},
		{"user/pass offered, CONNECT instead of credentials", cat(greet(socks.MethodUserPass), request(socks.V5Connect)), []byte{5, 2}},
		{"user/pass offered, BIND instead of credentials", cat(greet(socks.MethodUserPass), request(socks.V5Bind)), []byte{5, 2}},
		{"user/pass offered, UDP instead of credentials", cat(greet(socks.MethodUserPass), request(socks.V5UDPAssociate)), []byte{5, 2}},
		{"wrong password, then CONNECT", cat(greet(socks.MethodUserPass), userpass("alice", "wrong"), request(socks.V5Connect)), []byte{5, 2, 1, 1}},
		{"unknown user, then CONNECT", cat(greet(socks.MethodUserPass), userpass("mallory", "right"), request(socks.V5Connect)), []byte{5, 2, 1, 1}},
		{"empty password, then UDP", cat(greet(socks.MethodUserPass), userpass("alice", ""), request(socks.V5UDPAssociate)), []byte{5, 2, 1, 1}},
		{"password with a NUL suffix", cat(greet(socks.MethodUserPass), userpass("alice", "right\x00"), request(socks.V5Connect)), []byte{5, 2, 1, 1}},
		// SOCKS4 cannot authenticate: with a password required it must
		// not be the way around it (a claimed USERID is no password).
		{"SOCKS4 CONNECT instead", v4Request(t, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, dst)), UserID: "alice"}),
			[]byte{0, 91, 0, 0, 0, 0, 0, 0}},
		{"SOCKS4a BIND instead", v4Request(t, socks.V4Request{Command: socks.V4Bind, Dst: socks.Addr{Name: "localhost", Port: 21}, UserID: "alice"}),
			[]byte{0, 91, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range cases {
		c := dialProxy(t, srv.addr)
		mustWrite(t, c, tt.send)
		got, _ := readUntilClosed(t, c, 20*time.Second)
		if tt.want != nil && string(got) != string(tt.want) {
			t.Errorf("%s: server answered % x, want % x", tt.name, got, tt.want)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the destination was reached %d times without authentication", n)
	}
	// The complete sub-negotiation reaches the destination.
	c := dialProxy(t, srv.addr)
	mustWrite(t, c, cat(greet(socks.MethodUserPass), userpass("alice", "right"), request(socks.V5Connect)))
	readUntilClosed(t, c, 20*time.Second)
	waitFor(t, "the authenticated connect", func() bool { return hits.Load() == 1 })
	contains(t, srv.log, "refused -- authentication failed for user mallory")
	contains(t, srv.log, "SOCKS4 cannot authenticate")

	// With "none" among the methods, SOCKS4 is served as before.
	open := startServer(t, "permit 0.0.0.0 0.0.0.0\n", func(o *Options) {
		o.PasswdPath = pw
		o.Methods = []socks.Method{socks.MethodUserPass, socks.MethodNoAuth}
	})
	c = v4Open(t, open, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, dst)), UserID: "u"})
	if r := readV4Reply(t, c); r.Code != socks.V4Granted {
		t.Fatalf("SOCKS4 with none allowed: %v", r.Code)
	}
}
