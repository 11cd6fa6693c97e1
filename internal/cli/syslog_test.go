package cli

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
)

// TestServeSyslog runs the daemon with --syslog against a real datagram
// socket standing in for /dev/log: the session lines arrive as 4.3 wrote
// them (tag sockd, daemon.notice, no level, no fields).
func TestServeSyslog(t *testing.T) {
	dir := t.TempDir()
	conf := testnet.WriteFileIn(t, dir, "sockd.conf", "permit 127.0.0.0 255.0.0.0\n")
	sock := filepath.Join(dir, "log")
	devlog, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer devlog.Close()
	lines := make(chan string, 100)
	go func() {
		b := make([]byte, 8192)
		for {
			n, err := devlog.Read(b)
			if err != nil {
				close(lines)
				return
			}
			lines <- string(b[:n])
		}
	}()
	next := func(re *regexp.Regexp) []string {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("syslog socket closed")
				}
				if m := re.FindStringSubmatch(l); m != nil {
					return m
				}
			case <-timeout:
				t.Fatalf("no syslog line matching %s", re)
			}
		}
	}
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()

	done := make(chan int, 1)
	go func() {
		done <- Main("sockd", []string{"-c", conf, "--listen", "127.0.0.1:0", "--syslog", "--syslog-socket", sock,
			"--drain-timeout", "5s"}, strings.NewReader(""), io.Discard, io.Discard)
	}()
	head := `^<(\d+)>[A-Z][a-z]{2} [ 1-3][0-9] \d\d:\d\d:\d\d sockd\[` + strconv.Itoa(os.Getpid()) + `\]: `
	addr := next(regexp.MustCompile(head + `listening address=(127\.0\.0\.1:\d+)`))[2]

	c, err := net.DialTimeout("tcp", addr, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	ea := echo.Addr().(*net.TCPAddr).AddrPort()
	req, _ := socks.AppendV4Request(nil, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ea), UserID: "don"})
	c.Write(req)
	reply := make([]byte, socks.V4ReplyLen)
	if _, err := io.ReadFull(c, reply); err != nil || reply[1] != byte(socks.V4Granted) {
		t.Fatalf("reply %v, %v", reply, err)
	}
	c.Close()
	port := strconv.Itoa(int(ea.Port()))
	m := next(regexp.MustCompile(head + `connected -- Connect from don\(unknown\)@127\.0\.0\.1 to 127\.0\.0\.1 \(` + port + `\)$`))
	if m[1] != "29" { // daemon.notice
		t.Errorf("priority %s, want 29 (daemon.notice)", m[1])
	}
	// As sockd(8) shows them: the byte counts follow on a line of their own.
	next(regexp.MustCompile(head + `terminated -- Connect from don\(unknown\)@127\.0\.0\.1 to 127\.0\.0\.1 \(` + port + `\)\.$`))
	next(regexp.MustCompile(head + `0 bytes from 127\.0\.0\.1, 0 bytes from 127\.0\.0\.1$`))

	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop on SIGTERM")
	}
}
