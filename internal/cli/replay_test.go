package cli

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
)

// socks4 sends one SOCKS4 CONNECT for user to dst and returns the reply
// code; a granted connection is closed at once.
func socks4(t *testing.T, proxyAddr string, dst *net.TCPAddr, user string) byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", proxyAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	req := []byte{4, 1, 0, 0}
	binary.BigEndian.PutUint16(req[2:], uint16(dst.Port))
	req = append(req, dst.IP.To4()...)
	req = append(append(req, user...), 0)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	var rep [8]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		t.Fatal(err)
	}
	return rep[1]
}

// runLoggingDaemon starts sockd in-process with the given log format,
// makes the requests, waits for their lines and stops it; it returns the
// log.
func runLoggingDaemon(t *testing.T, conf, format string, users []string, dst *net.TCPAddr) string {
	return runDaemonWith(t, conf, format, users, dst, nil)
}

// runDaemonWith is runLoggingDaemon with extra flags, and a hook called
// with the log so far once the requests are logged, before the daemon
// stops.
func runDaemonWith(t *testing.T, conf, format string, users []string, dst *net.TCPAddr, hook func(log func() string), extra ...string) string {
	stderr, done := startInProcess(append([]string{"-c", conf, "--listen", "127.0.0.1:0", "--log-format", format, "--drain-timeout", "5s"}, extra...)...)
	re := regexp.MustCompile(`listening"?,? ?"?address"?[=:]"?(127\.0\.0\.1:\d+)`)
	addr := waitListening(t, re, stderr.String, done, 20*time.Second, nil)
	if addr == "" {
		t.Fatalf("daemon did not start: %s", stderr.String())
	}
	socks4Sessions(t, addr, dst, users, stderr.String, 40*time.Second)
	if hook != nil {
		hook(stderr.String)
	}
	stopInProcess(t, done)
	return stderr.String()
}

// TestReplayDaemonLogs replays logs the daemon wrote (text, JSON, gzip)
// and a 4.3 syslog sample; the counts are those worked out by hand from
// the two rule files.
func TestReplayDaemonLogs(t *testing.T) {
	dir := t.TempDir()
	dst := testnet.CloserT(t, "127.0.0.1:0")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Old: ann is permitted, bob refused by line 1. New: bob is permitted
	// by line 1, everyone else refused by line 2.
	oldConf := write("old.conf", "deny *=bob 0.0.0.0 0.0.0.0\npermit 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n")
	newConf := write("new.conf", "permit *=bob 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n")
	users := []string{"ann", "bob", "ann", "bob", "ann", "carl"}
	// By hand: ann ×3 and carl were permitted (connected + terminated
	// each: 4 sessions, 8 lines) and are refused by new line 2; bob ×2
	// was refused by old line 1 and is permitted by new line 1.
	want := "total 6, unchanged 0, newly_refused 4, newly_permitted 2, unparsable 1"
	for _, format := range []string{"text", "json"} {
		log := runLoggingDaemon(t, oldConf, format, users, dst)
		if n := strings.Count(log, "connected -- "); n != 4 {
			t.Fatalf("%s log has %d connected lines, want 4:\n%s", format, n, log)
		}
		logPath := write(format+".log", log+"refused -- Connect from garbage\n")
		code, stdout, stderr := runSockd(t, "", "replay", "-c", newConf, logPath)
		if code != ExitInvalid || !strings.HasPrefix(stdout, want) {
			t.Fatalf("%s: replay exit %d, want %d and %q:\n%s%s\nlog:\n%s", format, code, ExitInvalid, want, stdout, stderr, log)
		}
		for _, group := range []string{"permit -> deny line 2: 4 requests", "deny line 1 -> permit line 1: 2 requests",
			"unparsable: " + logPath + ":"} {
			if !strings.Contains(stdout, group) {
				t.Errorf("%s: replay output lacks %q:\n%s", format, group, stdout)
			}
		}
		// --against decides the old side again: the same changes, now
		// with the old lines.
		_, stdout, _ = runSockd(t, "", "replay", "-c", newConf, "--against", oldConf, logPath)
		if !strings.HasPrefix(stdout, want) || !strings.Contains(stdout, "permit line 2 -> deny line 2: 4 requests") {
			t.Errorf("%s: replay --against:\n%s", format, stdout)
		}
		// The same log gzipped gives the same report.
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write([]byte(log))
		zw.Close()
		gzPath := write(format+".log.gz", gz.String())
		_, stdout, _ = runSockd(t, "", "replay", "-c", newConf, gzPath)
		if !strings.HasPrefix(stdout, "total 6, unchanged 0, newly_refused 4, newly_permitted 2, unparsable 0") {
			t.Errorf("%s gzip: %s", format, stdout)
		}
	}
	// A 4.3 syslog sample: children logged by pid, names instead of
	// addresses for the client, a service name, a BIND.
	sample := write("messages", strings.Join([]string{
		"Dec  1 10:00:01 gw sockd[101]: connected -- Connect from ann(unknown)@10.1.2.3 to 192.0.2.7 (telnet)",
		"Dec  1 10:00:09 gw sockd[101]: terminated -- Connect from ann(unknown)@10.1.2.3 to 192.0.2.7 (telnet).",
		"Dec  1 10:00:09 gw sockd[101]: 120 bytes from 10.1.2.3, 4000 bytes from 192.0.2.7",
		"Dec  1 10:01:00 gw sockd[102]: refused -- Connect from bob(unknown)@10.1.2.4 to 192.0.2.7 (80)",
		"Dec  1 10:02:00 gw sockd[103]: cannot connect to identd on 10.1.2.5",
		"Dec  1 10:02:00 gw sockd[103]: connected -- Bind from ann(ann)@10.1.2.5 for 192.0.2.7 (1025)",
		"Dec  1 10:02:30 gw sockd[103]: terminated -- Bind from ann(ann)@10.1.2.5 for 192.0.2.7.",
		"Dec  1 10:03:00 gw sockd[104]: connected -- Connect from carl(unknown)@10.1.2.6 to 192.0.2.7 (nosuchservice)",
		"",
	}, "\n"))
	conf43 := write("43.conf", "permit *=bob 10.0.0.0 255.0.0.0\npermit 10.1.2.5 255.255.255.255\ndeny 0.0.0.0 0.0.0.0\n")
	// By hand: ann's telnet session is refused by line 3 now; bob is
	// permitted by line 1; ann's BIND from .5 stays permitted (line 2);
	// carl's line names an unknown service.
	code, stdout, _ := runSockd(t, "", "replay", "-c", conf43, sample)
	want43 := ("total 3, unchanged 1, newly_refused 1, newly_permitted 1, unparsable 1 (8 lines read, 2 other)\n" +
		"permit -> deny line 3: 1 request\n" +
		"  example (" + sample + ":1): --from 10.1.2.3 --to 192.0.2.7 --port 23 --user ann\n" +
		"deny -> permit line 1: 1 request\n" +
		"  example (" + sample + ":4): --from 10.1.2.4 --to 192.0.2.7 --port 80 --user bob\n" +
		"unparsable: " + sample + ":8: unknown service \"nosuchservice\"\n" +
		"  Dec  1 10:03:00 gw sockd[104]: connected -- Connect from carl(unknown)@10.1.2.6 to 192.0.2.7 (nosuchservice)\n")
	if code != ExitInvalid || stdout != want43 {
		t.Errorf("4.3 sample: exit %d\n%s\nwant\n%s", code, stdout, want43)
	}
}

// TestReplaySyslogSocket runs the daemon with --syslog, its /dev/log a
// datagram socket of the test (in a private mount namespace, so the
// machine's /dev is untouched), and replays what arrived.
func TestReplaySyslogSocket(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a private mount namespace (unshare -m)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatal("unshare (util-linux) is needed")
	}
	dir := t.TempDir()
	bin := filepath.Join(srelayBinary(t), "sockd")
	sock := filepath.Join(dir, "log")
	pc := testnet.ListenUnixgram(t, sock)
	var mu sync.Mutex
	var received []string
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := pc.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			received = append(received, strings.TrimRight(string(buf[:n]), "\n"))
			mu.Unlock()
		}
	}()
	logText := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(received, "\n") + "\n"
	}
	dst := testnet.CloserT(t, "127.0.0.1:0")
	conf := testnet.WriteFileIn(t, dir, "old.conf", "deny *=bob 0.0.0.0 0.0.0.0\npermit 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n")
	newConf := testnet.WriteFileIn(t, dir, "new.conf", "permit *=bob 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n")
	script := fmt.Sprintf("mount -t tmpfs none /dev && mknod -m 666 /dev/null c 1 3 && ln -s %s /dev/log && exec %s -c %s --listen 127.0.0.1:0 --syslog",
		sock, bin, conf)
	cmd := exec.Command(unshare, "-m", "--propagation", "private", "sh", "-c", script)
	out := &testnet.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	re := regexp.MustCompile(`listening address=(127\.0\.0\.1:\d+)`)
	addr := waitListening(t, re, logText, nil, 30*time.Second, nil)
	if addr == "" {
		t.Fatalf("no listening line on the syslog socket:\n%s\n%s", logText(), out.String())
	}
	socks4Sessions(t, addr, dst, []string{"ann", "bob", "ann"}, logText, 30*time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	log := logText()
	if !strings.Contains(log, "sockd[") {
		t.Fatalf("not syslog lines:\n%s", log)
	}
	logPath := testnet.WriteFileIn(t, dir, "syslog.log", log)
	// By hand: ann ×2 was permitted by old line 2 and is refused by new
	// line 2; bob was refused by old line 1 and is permitted by new line 1.
	// Syslog carries 4.3's lines without fields, so the old line numbers
	// are not in the log: the groups name only the old outcome.
	code, stdout, stderr := runSockd(t, "", "replay", "-c", newConf, logPath)
	want := "total 3, unchanged 0, newly_refused 2, newly_permitted 1, unparsable 0"
	if code != ExitInvalid || !strings.HasPrefix(stdout, want) ||
		!strings.Contains(stdout, "permit -> deny line 2: 2 requests") || !strings.Contains(stdout, "deny -> permit line 1: 1 request") {
		t.Fatalf("replay exit %d, want %q:\n%s%s\nlog:\n%s", code, want, stdout, stderr, log)
	}
}
