package logline

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// devLog is a real datagram socket standing in for /dev/log.
func devLog(t *testing.T) (string, *net.UnixConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return path, c
}

func readDatagram(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b := make([]byte, 4096)
	n, err := c.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:n])
}

// TestSyslogAs43: with --syslog a session line is 4.3's line exactly (no
// level prefix, no key=value fields) at 4.3's priority: daemon.notice for
// sessions, daemon.err for failures. Client data stays escaped.
func TestSyslogAs43(t *testing.T) {
	path, c := devLog(t)
	log, err := NewSyslogAt(path, "sockd", slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	stamp := `[A-Z][a-z]{2} [ 1-3][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}`
	pid := fmt.Sprint(os.Getpid())
	cases := []struct {
		log  func()
		want string
	}{
		{func() {
			log.Info("connected -- Connect from don(don)@eon.example to ftp.example (telnet)", "client", "192.0.2.1:4000")
		}, `^<29>` + stamp + ` sockd\[` + pid + `\]: connected -- Connect from don\(don\)@eon\.example to ftp\.example \(telnet\)$`},
		{func() {
			log.Info("refused -- Connect from sam\n(unknown)@h to x (ftp)", "client", "192.0.2.1:4001", "file", "/etc/sockd.conf", "line", 3)
		}, `^<29>` + stamp + ` sockd\[` + pid + `\]: refused -- Connect from sam\\n\(unknown\)@h to x \(ftp\)$`},
		{func() {
			log.Warn("*Alert*: real user is sam, not jim", "client", "192.0.2.1:4002", "user", "jim")
		}, `^<27>` + stamp + ` sockd\[` + pid + `\]: \*Alert\*: real user is sam, not jim$`},
		{func() {
			log.Error("accept failed, shutting down", "address", "127.0.0.1:1080", "err", "boom")
		}, `^<27>` + stamp + ` sockd\[` + pid + `\]: accept failed, shutting down address=127\.0\.0\.1:1080 err=boom$`},
		{func() {
			log.Info("listening", "address", "127.0.0.1:1080")
		}, `^<29>` + stamp + ` sockd\[` + pid + `\]: listening address=127\.0\.0\.1:1080$`},
	}
	for _, tc := range cases {
		tc.log()
		if got := readDatagram(t, c); !regexp.MustCompile(tc.want).MatchString(got) {
			t.Errorf("got  %q\nwant %s", got, tc.want)
		}
	}
	// Attributes added to the logger (a worker's number) are the daemon's,
	// not the session's: a session line stays bare.
	log.With("worker", 1).Info("terminated -- Connect from a(unknown)@h to x (80)", "client", "192.0.2.1:4003")
	if got := readDatagram(t, c); !regexp.MustCompile(`sockd\[` + pid + `\]: terminated -- Connect from a\(unknown\)@h to x \(80\)$`).MatchString(got) {
		t.Errorf("got %q", got)
	}
}
