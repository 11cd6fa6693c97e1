package server

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/policy"
)

// publicListener is a loopback listener that reports a wildcard address,
// so the test sees what a daemon on 0.0.0.0 sees without exposing a port
// to the network.
type publicListener struct{ net.Listener }

func (l publicListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4zero, Port: l.Listener.Addr().(*net.TCPAddr).Port}
}

func TestOpenProxyWarning(t *testing.T) {
	t.Parallel()
	const warning = "open proxy: listening on 0.0.0.0:"
	serve := func(t *testing.T, conf string, public bool) (*Server, *testnet.Buffer) {
		logs := &testnet.Buffer{}
		s, err := New(Options{ConfigPath: writeFile(t, "sockd.conf", conf), Logger: newTestLogger(logs)})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var l net.Listener = ln
		if public {
			l = publicListener{ln}
		}
		done := make(chan struct{})
		go func() { defer close(done); s.Serve(l) }()
		t.Cleanup(func() { s.Close(); <-done })
		waitFor(t, "the listener", func() bool { return strings.Contains(logs.String(), "configuration loaded") })
		// Serve logs the warning before it accepts: an answered greeting
		// proves it ran (a bare dial only reaches the kernel's queue).
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		c.Write([]byte{5, 1, 0})
		if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
			t.Fatalf("no answer from the server: %v", err)
		}
		c.Close()
		return s, logs
	}
	for _, tt := range []struct {
		name   string
		conf   string
		public bool
		warn   bool
	}{
		{"permit all on a public address", "permit 0.0.0.0 0.0.0.0\n", true, true},
		{"permit all IPv6 on a public address", "permit ::/0 0.0.0.0 0.0.0.0\n", true, true},
		{"permit all but port 25", "deny 0.0.0.0 0.0.0.0 0.0.0.0 0.0.0.0 eq 25\npermit 0.0.0.0 0.0.0.0\n", true, true},
		{"loopback rules on a public address", permitLoopback, true, false},
		{"identd required", "permit ?=I 0.0.0.0 0.0.0.0\n", true, false},
		{"named users only", "permit *=alice 0.0.0.0 0.0.0.0\n", true, false},
		{"permit all on loopback", "permit 0.0.0.0 0.0.0.0\n", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, logs := serve(t, tt.conf, tt.public)
			if got := strings.Contains(logs.String(), warning); got != tt.warn {
				t.Fatalf("warning printed: %v, want %v\n%s", got, tt.warn, logs)
			}
		})
	}
	t.Run("reload into an open rule set", func(t *testing.T) {
		s, logs := serve(t, permitLoopback, true)
		if strings.Contains(logs.String(), warning) {
			t.Fatal("warned before the reload")
		}
		if err := os.WriteFile(s.opts.ConfigPath, []byte("permit 0.0.0.0 0.0.0.0\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.Reload(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), warning) {
			t.Fatalf("no warning after reloading open rules:\n%s", logs)
		}
	})
}

// TestSafeDefaults: without flags the daemon listens on loopback, and the
// embedded rules permit loopback clients and nobody else.
func TestSafeDefaults(t *testing.T) {
	t.Parallel()
	ap, err := netip.ParseAddrPort(DefaultListen)
	if err != nil || !ap.Addr().IsLoopback() {
		t.Fatalf("DefaultListen %q is not a loopback address", DefaultListen)
	}
	conf, _, err := load.DefaultSockd(load.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.New(conf, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.PermitsAnyone() {
		t.Fatal("the embedded default permits outside clients")
	}
	for _, src := range []string{"127.0.0.1", "127.9.9.9", "::1", "10.0.0.1", "192.168.1.1", "::ffff:10.0.0.1", "2001:db8::1", "0.0.0.0", "::"} {
		ip := netip.MustParseAddr(src)
		req := policy.Request{Command: policy.CmdConnect, SrcIP: ip.Unmap(), SrcPort: 1, DstIP: netip.MustParseAddr("192.0.2.1"), DstPort: 80,
			Ident: func() (string, error) { return "", errors.New("no identd") }}
		if got, want := p.Decide(&req, nil).Permit, ip.Unmap().IsLoopback(); got != want {
			t.Errorf("default rules: client %s permitted = %v, want %v", src, got, want)
		}
	}
}
