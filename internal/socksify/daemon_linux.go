package socksify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The helper daemon of libsockswrap: starting the helper for every
// connect costs milliseconds, so the wrapper first asks a helper that
// stays, on an abstract Unix socket named after the user and the
// configuration. The request is one SOCK_SEQPACKET message, "connect
// HOST PORT" or "bind HOST PORT", with the program's socket attached
// (SCM_RIGHTS); the answer is WrapHelper's line. Each side checks that
// the other runs as the same user (SO_PEERCRED), so another user cannot
// squat the name and receive the sockets. The daemon exits after an idle
// period; the wrapper starts a new one when it finds none.

// DefaultIdle is how long the daemon waits for a request before it exits.
const DefaultIdle = 60 * time.Second

// ServeDaemonStart binds and listens on the abstract socket name, starts
// self as the daemon with the listener inherited, and returns: once it
// returns, connections to name are queued for the daemon. A name already
// taken means a daemon is there: nothing to do.
func ServeDaemonStart(self, name string) error {
	if filtered() {
		// Under a seccomp filter (a socks run, a container) the daemon
		// would outlive whatever answers the filter's notifications and
		// serve later programs with a broken connect: the wrapper starts
		// a helper per connect instead.
		return errors.New("wrap-helper serve: under a seccomp filter, no daemon")
	}
	// Descriptors the program left open across exec (a pipe a shell
	// reads to its end, say) must not live on in the daemon.
	unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: "@" + name}); err != nil {
		unix.Close(fd)
		if err == unix.EADDRINUSE {
			return nil
		}
		return err
	}
	if err := unix.Listen(fd, 64); err != nil {
		unix.Close(fd)
		return err
	}
	ln := os.NewFile(uintptr(fd), "sockswrap")
	defer ln.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	cmd := exec.Command(self, "wrap-helper", "daemon", "3", "-", "-")
	cmd.ExtraFiles = []*os.File{ln}
	// The daemon outlives the program that started it: its standard
	// files must not be the program's (a closed pipe would kill it).
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
}

// ServeDaemon answers requests on the listening descriptor lfd until it
// has been idle for idle.
func ServeDaemon(lfd int, idle time.Duration) error {
	f := os.NewFile(uintptr(lfd), "sockswrap")
	l, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return err
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		return errors.New("wrap-helper daemon: descriptor 3 is not a Unix socket")
	}
	defer ul.Close()
	var (
		mu     sync.Mutex
		active int
		wg     sync.WaitGroup
	)
	for {
		ul.SetDeadline(time.Now().Add(idle))
		c, err := ul.AcceptUnix()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				mu.Lock()
				busy := active > 0
				mu.Unlock()
				if busy {
					continue
				}
				wg.Wait()
				return nil
			}
			return err
		}
		mu.Lock()
		active++
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { mu.Lock(); active--; mu.Unlock() }()
			serveRequest(c)
		}()
	}
}

func sameUser(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var cred *unix.Ucred
	raw.Control(func(fd uintptr) { cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	return err == nil && cred != nil && int(cred.Uid) == os.Getuid()
}

func serveRequest(c *net.UnixConn) {
	defer c.Close()
	if !sameUser(c) {
		return
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return
	}
	fd := -1
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) == 1 {
		if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) >= 1 {
			fd = fds[0]
			for _, extra := range fds[1:] {
				unix.Close(extra)
			}
		}
	}
	answer := fmt.Sprintf("ERR %d", unix.EBADF)
	if fd >= 0 {
		f := strings.Fields(string(buf[:n]))
		if len(f) == 3 && (f[0] == "connect" || f[0] == "bind") {
			answer = WrapHelper(context.Background(), f[0], strconv.Itoa(fd), f[1], f[2])
		} else {
			answer = fmt.Sprintf("ERR %d", unix.EINVAL)
		}
		unix.Close(fd)
	}
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte(answer))
}

// filtered says whether this process runs under a seccomp filter.
func filtered() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Seccomp:"); ok {
			return strings.TrimSpace(v) != "0"
		}
	}
	return false
}
