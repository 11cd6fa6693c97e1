package server

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/socks"
)

// With SameInterface (srelay's -g) the destination sees the connection
// come from the address the client reached the server at (127.0.0.2),
// under both engines; without it the system picks 127.0.0.1.
func TestSameInterface(t *testing.T) {
	t.Parallel()
	dst, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	go func() {
		for {
			c, err := dst.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(c.RemoteAddr().(*net.TCPAddr).IP.String() + "\n"))
			c.Close()
		}
	}()
	_, port := hostPort(t, dst.Addr().String())
	for _, engine := range []string{"loops", "goroutines"} {
		for _, same := range []bool{true, false} {
			srv := startServerOn(t, "127.0.0.2:0", permitLoopback, func(o *Options) {
				o.NoEventLoops = engine == "goroutines"
				o.SameInterface = same
			})
			c := dialProxy(t, srv.addr)
			mustWrite(t, c, v4Request(t, socks.V4Request{Command: socks.V4Connect,
				Dst: socks.Addr{IP: netip.MustParseAddr("127.0.0.1"), Port: port}, UserID: "u"}))
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
