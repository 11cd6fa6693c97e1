package logline

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
)

// devLog is a real datagram socket standing in for /dev/log.
func devLog(t *testing.T) (string, *net.UnixConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log")
	return path, testnet.ListenUnixgram(t, path)
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
	// not the session's: a session line stays bare. As sockd(8) shows, the
	// byte counts of a terminated session are a line of their own.
	r := Request{Command: "Connect", User: "don", Ident: "don", Src: "eon.example", Dst: "ftp.example", Service: "telnet"}
	log.With("worker", 1).Info(Terminated(r, 1048, 285143), "client", "192.0.2.1:4003", "bytes_from_client", 1048)
	for _, want := range []string{
		`^<29>` + stamp + ` sockd\[` + pid + `\]: terminated -- Connect from don\(don\)@eon\.example to ftp\.example \(telnet\)\.$`,
		`^<29>` + stamp + ` sockd\[` + pid + `\]: 1048 bytes from eon\.example, 285143 bytes from ftp\.example$`,
	} {
		if got := readDatagram(t, c); !regexp.MustCompile(want).MatchString(got) {
			t.Errorf("got  %q\nwant %s", got, want)
		}
	}
}

// TestSplitTerminated: the split finds 4.3's two lines in every terminated
// message, whatever the client-supplied names hold.
func TestSplitTerminated(t *testing.T) {
	hostile := []string{"", "x", "a. 1 bytes from b, 2 bytes from c", "@h to d (", " for ", ". 0 bytes from ", "d (80). 0 bytes"}
	for _, cmd := range []string{"Connect", "Bind", "UDP"} {
		for _, u := range hostile {
			for _, dst := range hostile {
				r := Request{Command: cmd, User: u, Ident: u, Src: "h", Dst: dst, Service: "80"}
				head, counts, ok := splitTerminated(Terminated(r, 0, 0))
				wantCounts := fmt.Sprintf("0 bytes from h, 0 bytes from %s", dstName(r))
				if !ok || head != "terminated -- "+r.Msg()+"." || counts != wantCounts {
					t.Errorf("%+v: %q | %q (%v)", r, head, counts, ok)
				}
			}
		}
	}
	// A destination crafted to make a second cut look valid: no cut, so
	// that no syslog line starts with the client's text.
	r := Request{Command: "Connect", User: "u", Src: "h", Dst: "x)@h to y (80). 0 bytes from h, 0 bytes from y", Service: "80"}
	if head, counts, ok := splitTerminated(Terminated(r, 0, 0)); ok {
		t.Errorf("crafted destination: cut into %q | %q", head, counts)
	}
	if _, _, ok := splitTerminated("refused -- Connect from a(b)@h to x (80)"); ok {
		t.Error("split a line that is not a terminated line")
	}
}

// FuzzSplitTerminated: whatever a client puts in its user id and
// destination name, a message is never cut at the wrong place, and is cut
// whenever the client's text holds no ". ".
func FuzzSplitTerminated(f *testing.F) {
	f.Add("Connect", "don", "ftp.example", int64(1048))
	f.Add("Bind", "a. 1 bytes from b, 2 bytes from c", ")@h for x", int64(0))
	f.Fuzz(func(t *testing.T, cmd, user, dst string, n int64) {
		if n < 0 {
			n = -n
		}
		r := Request{Command: cmd, User: user, Ident: user, Src: "192.0.2.1", Dst: dst, Service: "80"}
		head, counts, ok := splitTerminated(Terminated(r, n, 7))
		if ok && (head != "terminated -- "+r.Msg()+"." || counts != fmt.Sprintf("%d bytes from 192.0.2.1, 7 bytes from %s", n, dstName(r))) {
			t.Fatalf("%+v: cut at the wrong place: %q | %q", r, head, counts)
		}
		if !ok && !strings.Contains(user+dst, ". ") {
			t.Fatalf("%+v: not cut, with no \". \" in the client's text", r)
		}
	})
}
