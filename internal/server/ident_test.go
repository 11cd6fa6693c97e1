package server

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// identAddr is where the test's oidentd listens. The clients of these
// tests connect from this address, so the daemon's identd query goes to
// 127.0.0.2:113; the ident package's own oidentd test uses 127.0.0.1:113,
// and the two can run at the same time.
const identAddr = "127.0.0.2"

func startOidentd(t *testing.T) (stop func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("identd on port 113 needs root")
	}
	bin := needPeer(t, "oidentd", "oidentd")
	cmd := exec.Command(bin, "-i", "-S", "-a", identAddr, "-p", "113")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting oidentd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop = func() {
		cmd.Process.Kill()
		<-done
	}
	t.Cleanup(stop)
	waitFor(t, "oidentd to listen on "+identAddr+":113", func() bool {
		select {
		case <-done:
			t.Fatalf("oidentd exited at start (is %s:113 taken?)", identAddr)
		default:
		}
		c, err := net.DialTimeout("tcp", identAddr+":113", time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return stop
}

// identClientConnect sends a SOCKS4 CONNECT from 127.0.0.2 and returns the
// reply code.
func identClientConnect(t *testing.T, srv *testServer, dst, user string) socks.V4ReplyCode {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(identAddr)}, Timeout: 30 * time.Second}
	c, err := d.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	mustWrite(t, c, v4Request(t, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, dst)), UserID: user}))
	return readV4Reply(t, c).Code
}

func TestIdentd(t *testing.T) {
	stop := startOidentd(t)
	echo := echoTarget(t, "tcp", "127.0.0.1:0")
	dst := echo.Addr().String()
	short := func(o *Options) { o.IdentTimeout = 5 * time.Second }

	// ?=I in the rule, and -I (strict) for a line without ?=.
	strictRule := startServer(t, "permit ?=I 127.0.0.0 255.0.0.0\n", short)
	strictFlag := startServer(t, "permit 127.0.0.0 255.0.0.0\n", func(o *Options) { short(o); o.IdentMode = policy.IdentModeStrict })
	lenientRule := startServer(t, "permit ?=i 127.0.0.0 255.0.0.0\n", short)
	lenientFlag := startServer(t, "permit 127.0.0.0 255.0.0.0\n", func(o *Options) { short(o); o.IdentMode = policy.IdentModeLenient })

	for _, srv := range []*testServer{strictRule, strictFlag, lenientRule, lenientFlag} {
		if got := identClientConnect(t, srv, dst, "root"); got != socks.V4Granted {
			t.Errorf("matching user: reply %v, want 90", got)
		}
		if got := identClientConnect(t, srv, dst, "notroot"); got != socks.V4IdentMismatch {
			t.Errorf("mismatching user: reply %v, want 93", got)
		}
		contains(t, srv.log, "*Alert*: real user is root, not notroot")
		contains(t, srv.log, "connected -- Connect from root(root)@127.0.0.2")
	}

	stop() // identd unreachable now
	for _, srv := range []*testServer{strictRule, strictFlag} {
		if got := identClientConnect(t, srv, dst, "root"); got != socks.V4NoIdentd {
			t.Errorf("strict, no identd: reply %v, want 92", got)
		}
	}
	for _, srv := range []*testServer{lenientRule, lenientFlag} {
		if got := identClientConnect(t, srv, dst, "root"); got != socks.V4Granted {
			t.Errorf("lenient, no identd: reply %v, want 90", got)
		}
		contains(t, srv.log, "cannot connect to identd on")
	}
}
