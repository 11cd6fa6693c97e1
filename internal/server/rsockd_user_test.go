package server

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/net/proxy"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/ident"
	"github.com/sockd/sockd/internal/auth"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// v4ConnectAs sends a SOCKS4 CONNECT with userID and returns the reply code.
func v4ConnectAs(t *testing.T, addr, dst, userID string) socks.V4ReplyCode {
	t.Helper()
	c := dialProxy(t, addr)
	defer c.Close()
	mustWrite(t, c, v4Request(t, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, dst)), UserID: userID}))
	return readV4Reply(t, c).Code
}

// TestRsockdPassesUser: rsockd(8) says "to host A, the request appears to
// originate from user x on host B": the upstream gets the client's user
// (the identd-confirmed one where identd was asked, else the claimed one),
// not a fixed name.
func TestRsockdPassesUser(t *testing.T) {
	t.Parallel()
	// The upstream listens on 127.0.0.1, reached directly; the destination
	// on 127.0.0.2, reached through it.
	dst := echoTarget(t, "tcp", "127.0.0.2:0").Addr().String()
	upstream := startServer(t, permitLoopback, nil)
	conf := "direct 127.0.0.1 255.255.255.255\nsockd @=" + upstream.addr + " ALL\n"

	claimed := rsockd(t, conf, "", nil)
	if got := v4ConnectAs(t, claimed.addr, dst, "bob"); got != socks.V4Granted {
		t.Fatalf("reply %v, want 90", got)
	}
	contains(t, upstream.log, "connected -- Connect from bob(")

	// identd (here a stand-in for the query) confirms carol.
	confirmed := rsockd(t, conf, "", func(o *Options) {
		o.IdentMode = policy.IdentModeLenient
		o.identQuery = func(ctx context.Context, local, remote netip.AddrPort, timeout time.Duration) (ident.Reply, error) {
			return ident.Reply{UserID: "carol", OS: "UNIX"}, nil
		}
	})
	if got := v4ConnectAs(t, confirmed.addr, dst, "carol"); got != socks.V4Granted {
		t.Fatalf("reply %v, want 90", got)
	}
	contains(t, confirmed.log, "connected -- Connect from carol(carol)@")
	contains(t, upstream.log, "connected -- Connect from carol(")
	if strings.Contains(upstream.log.String(), "Connect from sockd(") {
		t.Errorf("the upstream saw the fixed user sockd:\n%s", upstream.log)
	}
}

// TestRsockdDefaultServer: a socks.conf sockd line without @= (rsockd(8)'s
// own example ends with "sockd ALL") uses the default server: Options
// DefaultServers, else SOCKS_SERVER from the environment.
func TestRsockdDefaultServer(t *testing.T) {
	dst := echoTarget(t, "tcp", "127.0.0.2:0").Addr().String()
	upstream := startServer(t, permitLoopback, nil)
	conf := "direct 127.0.0.1 255.255.255.255\nsockd ALL\n"

	t.Setenv("SOCKS_SERVER", upstream.addr)
	env := rsockd(t, conf, "", nil)
	if got := v4ConnectAs(t, env.addr, dst, "dora"); got != socks.V4Granted {
		t.Fatalf("SOCKS_SERVER: reply %v, want 90\n%s", got, env.log)
	}
	contains(t, upstream.log, "connected -- Connect from dora(")

	u, err := client.ParseUpstream(upstream.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOCKS_SERVER", "")
	flag := rsockd(t, conf, "", func(o *Options) { o.DefaultServers = []client.Upstream{u} })
	if got := v4ConnectAs(t, flag.addr, dst, "erin"); got != socks.V4Granted {
		t.Fatalf("DefaultServers: reply %v, want 90\n%s", got, flag.log)
	}
	contains(t, upstream.log, "connected -- Connect from erin(")

	// -t warns about a line that needs a default server when none is given.
	none := rsockd(t, "direct 127.0.0.2 255.255.255.255\nsockd ALL\n", "", nil)
	var report bytes.Buffer
	none.CheckReport(&report)
	none.ClientReport(&report)
	if !strings.Contains(report.String(), "socks.conf:2: warning: this sockd line names no server (@=) and there is no default server (--default-server or SOCKS_SERVER)") {
		t.Errorf("report:\n%s", report.String())
	}
	report.Reset()
	flag.ClientReport(&report)
	if strings.Contains(report.String(), "warning") {
		t.Errorf("a default server is given, yet:\n%s", report.String())
	}
}

// TestDumpConfigClient: SIGUSR1 in rsockd mode logs the socks.conf routes
// beside the rules and route file.
func TestDumpConfigClient(t *testing.T) {
	t.Parallel()
	rs := rsockd(t, "direct 127.0.0.0/8\nsockd @=192.0.2.1:1080 ALL\n", "", nil)
	rs.DumpConfig()
	contains(t, rs.log, "effective client configuration")
	contains(t, rs.log, "client: direct 127.0.0.0/8")
	contains(t, rs.log, "client: sockd @=192.0.2.1 ALL 0.0.0.0")
}

// TestRsockdNeverPassesPassword: a client's own password stays with
// rsockd. The upstream knows the same user and password, yet refuses the
// chained request: rsockd sends only what the credentials file holds.
func TestRsockdNeverPassesPassword(t *testing.T) {
	t.Parallel()
	dst := echoTarget(t, "tcp", "127.0.0.2:0").Addr().String()
	pw := writeFile(t, "passwd", "")
	if err := auth.SetPassword(pw, "alice", "s3cret", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	withPasswords := func(o *Options) {
		o.PasswdPath = pw
		o.Methods = []socks.Method{socks.MethodUserPass}
	}
	upstream := startServer(t, permitLoopback, withPasswords)
	rs := rsockd(t, "direct 127.0.0.1 255.255.255.255\nsockd @=socks5://"+upstream.addr+" ALL\n", "", withPasswords)
	d, err := proxy.SOCKS5("tcp", rs.addr, &proxy.Auth{User: "alice", Password: "s3cret"}, &net.Dialer{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := d.Dial("tcp", dst); err == nil {
		c.Close()
		t.Fatal("the upstream accepted the chained request: the client's password went upstream")
	}
	contains(t, rs.log, "Failed to connect to sockd at socks5://"+upstream.addr)

	// The same request passes once the credentials file names them.
	withFile := rsockd(t, "direct 127.0.0.1 255.255.255.255\nsockd @=socks5://"+upstream.addr+" ALL\n",
		"socks5://"+upstream.addr+" alice s3cret\n", withPasswords)
	d, err = proxy.SOCKS5("tcp", withFile.addr, &proxy.Auth{User: "alice", Password: "s3cret"}, &net.Dialer{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Dial("tcp", dst)
	if err != nil {
		t.Fatalf("with the credentials file: %v", err)
	}
	c.Close()
}
