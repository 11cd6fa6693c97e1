package daemon

import (
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The daemon's accepted clients keep the system's keep-alive timings (as
// 4.3's SO_KEEPALIVE did), not Go's 15-second defaults, which cost three
// setsockopt calls per accept and a probe every 15 s on each idle client.
func TestListenersKeepSystemKeepAlive(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_keepalive_time")
	if err != nil {
		t.Skipf("no keep-alive sysctl here: %v", err)
	}
	want, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || want == 15 {
		t.Skipf("system keep-alive time %q cannot be told from Go's default", b)
	}
	o := &Ops{}
	lns, err := o.Listeners([]string{"127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer lns[0].Close()
	c, err := net.Dial("tcp", lns[0].Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := lns[0].Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw, err := s.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var on, idle int
	var oerr, ierr error
	raw.Control(func(fd uintptr) {
		on, oerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		idle, ierr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
	})
	if oerr != nil || ierr != nil {
		t.Fatal(oerr, ierr)
	}
	if on != 1 || idle != want {
		t.Errorf("accepted client: SO_KEEPALIVE=%d TCP_KEEPIDLE=%d, want keep-alive on with the system's %d s", on, idle, want)
	}
}
