package server

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/auth"
	"github.com/sockd/sockd/socks"
	"golang.org/x/crypto/bcrypt"
)

// TestFailedLoginsLimitedPerSource: a source that keeps guessing is
// refused, even with the right password, once it failed the limit within
// the window; its refusal is one log line, not one per try; and clients
// that need no password are still served (issue 18, defect 8).
func TestFailedLoginsLimitedPerSource(t *testing.T) {
	t.Parallel()
	pw := filepath.Join(t.TempDir(), "passwd")
	if err := auth.SetPassword(pw, "alice", "right", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, "permit 0.0.0.0 0.0.0.0\n", func(o *Options) {
		o.PasswdPath = pw
		o.Methods = []socks.Method{socks.MethodUserPass, socks.MethodNoAuth}
	})
	login := func(user, password string) []byte {
		b, _ := socks.AppendV5Greeting(nil, socks.V5Greeting{Methods: []socks.Method{socks.MethodUserPass}})
		b, _ = socks.AppendUserPass(b, socks.UserPass{Username: user, Password: password})
		c := dialProxy(t, srv.addr)
		mustWrite(t, c, b)
		got, _ := readUntilClosed(t, c, 20*time.Second)
		c.Close()
		return got
	}
	for i := range auth.DefaultFailLimit {
		if got := login("alice", "wrong"); string(got) != "\x05\x02\x01\x01" {
			t.Fatalf("wrong password %d: answered % x", i+1, got)
		}
	}
	for i := range 5 {
		if got := login("alice", "right"); string(got) != "\x05\x02\x01\x01" {
			t.Fatalf("right password after %d failures (try %d): answered % x, want a refusal", auth.DefaultFailLimit, i+1, got)
		}
	}
	waitFor(t, "the refusal logged", func() bool { return strings.Contains(srv.log.String(), "failed logins from host") })
	log := srv.log.String()
	if n := strings.Count(log, "failed logins from host"); n != 1 {
		t.Errorf("%d log lines about the blocked source, want 1:\n%s", n, log)
	}
	if n := strings.Count(log, "authentication failed for user"); n != auth.DefaultFailLimit {
		t.Errorf("%d log lines for failed logins, want %d (the limit)", n, auth.DefaultFailLimit)
	}
	// A client that needs no password is served as before.
	echo := echoTarget(t, "tcp", "127.0.0.1:0")
	c, code := v5Connect(t, srv.addr, echo.Addr())
	if code != socks.V5Succeeded {
		t.Fatalf("no-auth CONNECT beside a blocked source: %v", code)
	}
	c.Close()
}
