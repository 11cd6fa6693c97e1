package systemd

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := Notify("READY=1"); sent || err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v %v", sent, err)
	}
	for _, name := range []string{filepath.Join(t.TempDir(), "n"), "@sockd-test-" + strconv.Itoa(os.Getpid())} {
		addr := name
		if name[0] == '@' {
			addr = "\x00" + name[1:]
		}
		c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("NOTIFY_SOCKET", name)
		if sent, err := Notify("READY=1\nSTATUS=x"); !sent || err != nil {
			t.Fatalf("%s: %v %v", name, sent, err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "READY=1\nSTATUS=x" {
			t.Errorf("%s: got %q %v", name, buf[:n], err)
		}
		c.Close()
	}
	t.Setenv("NOTIFY_SOCKET", "relative")
	if _, err := Notify("READY=1"); err == nil {
		t.Error("a relative NOTIFY_SOCKET was accepted")
	}
	if MonotonicUsec() <= 0 {
		t.Error("no monotonic clock")
	}
}

// TestListenersForAnotherProcess: LISTEN_FDS meant for another pid (a
// parent that did not unset it) is ignored, and the variables are unset.
func TestListenersForAnotherProcess(t *testing.T) {
	t.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()+1))
	t.Setenv("LISTEN_FDS", "1")
	ls, err := Listeners()
	if ls != nil || err != nil {
		t.Fatalf("%v %v", ls, err)
	}
	if os.Getenv("LISTEN_FDS") != "" {
		t.Error("LISTEN_FDS left for child processes")
	}
}
