package server

import (
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/hostsaccess"
	"github.com/sockd/sockd/socks"
)

// A client that hosts.deny names gets no SOCKS byte at all, under both
// engines; one it does not name is served.
func TestAcceptCheckHostsDeny(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"loops", "goroutines"} {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "hosts.deny"), []byte("sockd: 127.0.0.1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			gate := &hostsaccess.Gate{Daemon: "sockd", AllowPath: filepath.Join(dir, "hosts.allow"), DenyPath: filepath.Join(dir, "hosts.deny")}
			dst := echoTarget(t, "tcp", "127.0.0.1:0")
			_, port := hostPort(t, dst.Addr().String())
			srv := startServer(t, permitLoopback, func(o *Options) {
				o.NoEventLoops = engine == "goroutines"
				o.AcceptCheck = func(c, l netip.AddrPort) (bool, string) { v := gate.Check(c, l); return v.Allow, v.Reason }
			})
			req := v4Request(t, socks.V4Request{Command: socks.V4Connect, Dst: socks.Addr{IP: netip.MustParseAddr("127.0.0.1"), Port: port}, UserID: "u"})

			// Nothing is sent first: bytes the server never reads would
			// turn its close into a reset.
			c := dialProxy(t, srv.addr)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
				t.Fatalf("denied client got %q, %v; want no byte and EOF", b, err)
			}
			waitFor(t, "the refusal in the log", func() bool {
				return contains0(srv.log.String(), "refused -- connect from 127.0.0.1 by host access rules")
			})

			// The file is read again when it changes: now 127.0.0.1 is not named.
			if err := os.WriteFile(filepath.Join(dir, "hosts.deny"), []byte("sockd: 127.0.0.2 # another host\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			c = dialProxy(t, srv.addr)
			mustWrite(t, c, req)
			if r := readV4Reply(t, c); r.Code != socks.V4Granted {
				t.Fatalf("reply %d, want 90", r.Code)
			}
		})
	}
}

func contains0(s, sub string) bool { return len(sub) == 0 || indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
