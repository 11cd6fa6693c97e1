package systemd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// TestNotify holds go-systemd's daemon.SdNotify, which the daemon calls,
// to what the daemon relies on: silence without NOTIFY_SOCKET, delivery to
// a path and to an abstract socket ("@..."), an error for anything else.
func TestNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := daemon.SdNotify(false, "READY=1"); sent || err != nil {
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
		if sent, err := daemon.SdNotify(false, "READY=1\nSTATUS=x"); !sent || err != nil {
			t.Fatalf("%s: %v %v", name, sent, err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "READY=1\nSTATUS=x" {
			t.Errorf("%s: got %q %v", name, buf[:n], err)
		}
		c.Close()
		if os.Getenv("NOTIFY_SOCKET") != name {
			t.Errorf("NOTIFY_SOCKET unset after the first message")
		}
	}
	t.Setenv("NOTIFY_SOCKET", "relative")
	if _, err := daemon.SdNotify(false, "READY=1"); err == nil {
		t.Error("a relative NOTIFY_SOCKET was accepted")
	}
}

// TestReloading: RELOADING=1 carries the monotonic clock in microseconds.
func TestReloading(t *testing.T) {
	r := Reloading()
	v, ok := strings.CutPrefix(r, "RELOADING=1\nMONOTONIC_USEC=")
	if !ok {
		t.Fatalf("%q", r)
	}
	if n, err := strconv.ParseInt(strings.TrimSuffix(v, "\n"), 10, 64); err != nil || n <= 0 {
		t.Errorf("no monotonic clock: %q", r)
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

// TestListenersImplausible: a corrupt count is refused before a file is
// made for each descriptor it claims.
func TestListenersImplausible(t *testing.T) {
	t.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	t.Setenv("LISTEN_FDS", "1000000")
	if _, err := Listeners(); err == nil || !strings.Contains(err.Error(), "implausibly many") {
		t.Fatalf("%v", err)
	}
	if os.Getenv("LISTEN_FDS") != "" {
		t.Error("LISTEN_FDS left for child processes")
	}
}

// helperEnv makes the test binary run listenersHelper instead of the tests:
// descriptors 3... can only be passed to a new process.
const helperEnv = "SOCKD_SYSTEMD_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
		listenersHelper()
		return
	}
	os.Exit(m.Run())
}

// listenersHelper prints what Listeners made of the passed descriptors.
func listenersHelper() {
	ls, err := Listeners()
	if err != nil {
		fmt.Printf("error: %v, ErrNotStream: %v\n", err, errors.Is(err, ErrNotStream))
	}
	for _, l := range ls {
		fmt.Printf("%s name=%q\n", l.Addr(), l.Name)
		l.Close()
	}
	fmt.Printf("left: %q\n", os.Getenv("LISTEN_FDS")+os.Getenv("LISTEN_FDNAMES"))
}

// passListeners runs listenersHelper with files as descriptors 3...
func passListeners(t *testing.T, names string, files ...*os.File) string {
	t.Helper()
	c := exec.Command(os.Args[0])
	c.Env = append(os.Environ(), helperEnv+"=1", "LISTEN_FDS="+strconv.Itoa(len(files)))
	if names != "" {
		c.Env = append(c.Env, "LISTEN_FDNAMES="+names)
	}
	c.ExtraFiles = files
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return string(out)
}

func tcpListenerFile(t *testing.T) (*os.File, string) {
	return socketFile(t, "tcp", "127.0.0.1:0")
}

// fileSocket is a socket whose descriptor can be duplicated.
type fileSocket interface {
	File() (*os.File, error)
	Close() error
}

// socketFile opens a socket listening on network and address (a bound
// socket for "udp") and returns a duplicate of its descriptor, closed when
// the test ends, and its address.
func socketFile(t *testing.T, network, address string) (*os.File, string) {
	t.Helper()
	var s fileSocket
	var addr net.Addr
	if network == "udp" {
		pc, err := net.ListenPacket(network, address)
		if err != nil {
			t.Fatal(err)
		}
		s, addr = pc.(*net.UDPConn), pc.LocalAddr()
	} else {
		ln, err := net.Listen(network, address)
		if err != nil {
			t.Fatal(err)
		}
		s, addr = ln.(fileSocket), ln.Addr()
	}
	defer s.Close()
	f, err := s.File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, addr.String()
}

// TestListenersPassed: passed TCP listeners come back in order with their
// names (an unnamed one with none), and the variables are unset.
func TestListenersPassed(t *testing.T) {
	f1, a1 := tcpListenerFile(t)
	f2, a2 := tcpListenerFile(t)
	got := passListeners(t, "socks", f1, f2)
	want := fmt.Sprintf("%s name=\"socks\"\n%s name=\"\"\nleft: \"\"\n", a1, a2)
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestListenersNotStream: a datagram socket (a unit with ListenDatagram=)
// or a Unix stream socket is an error naming the descriptor, not a
// listener left out in silence.
func TestListenersNotStream(t *testing.T) {
	f1, _ := tcpListenerFile(t)
	udp, _ := socketFile(t, "udp", "127.0.0.1:0")
	got := passListeners(t, "", f1, udp)
	want := "error: descriptor 4 passed by the service manager: file file+net LISTEN_FD_4: invalid argument, ErrNotStream: false\nleft: \"\"\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	unix, _ := socketFile(t, "unix", filepath.Join(t.TempDir(), "s"))
	got = passListeners(t, "", unix)
	want = "error: descriptor 3 passed by the service manager: not a listening TCP socket, ErrNotStream: true\nleft: \"\"\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
