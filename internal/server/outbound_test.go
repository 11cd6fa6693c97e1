package server

import (
	"bufio"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
)

// With SameInterface (srelay's -g) the destination sees the connection
// come from the address the client reached the server at (127.0.0.2),
// under both engines; without it the system picks 127.0.0.1.
func TestSameInterface(t *testing.T) {
	t.Parallel()
	dst := testnet.ListenT(t, "tcp", "127.0.0.1:0")
	go testnet.Serve(dst, func(c net.Conn) {
		c.Write([]byte(c.RemoteAddr().(*net.TCPAddr).IP.String() + "\n"))
	})
	_, port := hostPort(t, dst.Addr().String())
	for _, engine := range []string{"loops", "goroutines"} {
		for _, same := range []bool{true, false} {
			srv := startServerOn(t, "127.0.0.2:0", permitLoopback, func(o *Options) {
				o.NoEventLoops = engine == "goroutines"
				o.SameInterface = same
			})
			c := v4Open(t, srv, socks.V4Request{Command: socks.V4Connect,
				Dst: socks.Addr{IP: netip.MustParseAddr("127.0.0.1"), Port: port}, UserID: "u"})
			if r := readV4Reply(t, c); r.Code != socks.V4Granted {
				t.Fatalf("%s: reply %d", engine, r.Code)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			want := "127.0.0.1"
			if same {
				want = "127.0.0.2"
			}
			if got := strings.TrimSpace(line); got != want {
				t.Errorf("%s, SameInterface=%v: destination saw %s, want %s", engine, same, got, want)
			}
		}
	}
}

// TestRouteFile: the route file picks the source address of the outgoing
// connection.
func TestRouteFile(t *testing.T) {
	t.Parallel()
	route := writeFile(t, "sockd.route", "127.0.0.3 127.0.0.0 255.0.0.0\n")
	srv := startServer(t, permitLoopback, func(o *Options) { o.RoutePath = route })
	from := make(chan string, 1)
	dst := testnet.AcceptOnceT(t, "127.0.0.1:0", 30*time.Second, func(c net.Conn) { from <- c.RemoteAddr().(*net.TCPAddr).IP.String() })
	if got := v4Code(t, srv, dst, "u"); got != socks.V4Granted {
		t.Fatal(got)
	}
	if ip := testnet.RecvT(t, from, 30*time.Second, "the destination to be reached"); ip != "127.0.0.3" {
		t.Fatalf("outgoing connection from %s, want the route's 127.0.0.3", ip)
	}
}

// TestDefaultRouteFile: without --route the daemon reads /etc/sockd.fr,
// then /etc/sockd.route, as 4.3 did (the lookup's paths are moved into a
// temporary directory).
func TestDefaultRouteFile(t *testing.T) {
	dir := t.TempDir()
	fr, route := filepath.Join(dir, "sockd.fr"), filepath.Join(dir, "sockd.route")
	newWith := func() *testnet.Buffer {
		t.Helper()
		logs := &testnet.Buffer{}
		_, err := New(Options{ConfigPath: writeFile(t, "sockd.conf", permitLoopback), Logger: newTestLogger(logs),
			routeDefaults: []string{fr, route}})
		if err != nil {
			t.Fatal(err)
		}
		return logs
	}
	if logs := newWith(); strings.Contains(logs.String(), "routes loaded") {
		t.Fatalf("no route file exists, yet:\n%s", logs)
	}
	testnet.WriteFileIn(t, dir, "sockd.route", "127.0.0.1 127.0.0.0 255.0.0.0\n")
	contains(t, newWith(), "routes loaded file="+route)
	// The frozen name is looked for first; a text file under it is read by its content.
	testnet.WriteFileIn(t, dir, "sockd.fr", "127.0.0.1 0.0.0.0 0.0.0.0\n")
	contains(t, newWith(), "routes loaded file="+fr)
}
