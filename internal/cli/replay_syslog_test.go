package cli

import (
	"fmt"
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
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
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
