// Package systemd is the daemon's side of the two systemd protocols it
// speaks: sd_notify(3) readiness messages and sd_listen_fds(3) socket
// activation. Both are a few lines of protocol, written here by hand so
// that the daemon needs no library and no cgo.
package systemd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Notify sends state (for example "READY=1" or "RELOADING=1\nMONOTONIC_USEC=...")
// to the service manager named by $NOTIFY_SOCKET. It reports false, and no
// error, when the daemon was not started by a manager that listens, so
// callers can notify unconditionally.
func Notify(state string) (bool, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return false, nil
	}
	if path[0] != '/' && path[0] != '@' {
		return false, fmt.Errorf("NOTIFY_SOCKET %q is neither a path nor an abstract socket", path)
	}
	addr := &net.UnixAddr{Name: path, Net: "unixgram"}
	if path[0] == '@' {
		addr.Name = "\x00" + path[1:] // Linux abstract namespace
	}
	c, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return false, err
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return false, err
	}
	return true, nil
}

// Reloading is the state that announces a reload: RELOADING=1 with the
// time it began, as sd_notify(3) requires.
func Reloading() string {
	return "RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(MonotonicUsec(), 10)
}

// MonotonicUsec is CLOCK_MONOTONIC in microseconds, which RELOADING=1 must
// carry (sd_notify(3): MONOTONIC_USEC) so the manager can order the reload.
func MonotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Sec*1_000_000 + ts.Nsec/1000
}

// ListenFdsStart is the first descriptor systemd passes (SD_LISTEN_FDS_START).
const ListenFdsStart = 3

// Listener is one socket passed by the service manager.
type Listener struct {
	net.Listener
	Name string // from LISTEN_FDNAMES (the .socket unit's FileDescriptorName=), "" if unnamed
}

// ErrNotStream is returned for a passed descriptor that is not a listening
// stream socket (a unit with ListenDatagram=, for example).
var ErrNotStream = errors.New("not a listening TCP socket")

// Listeners returns the listening sockets passed in LISTEN_FDS when
// LISTEN_PID names this process, and unsets the variables so that child
// processes (shell commands of the rules) do not think they were passed
// too. It returns nil, nil when nothing was passed.
func Listeners() ([]Listener, error) {
	defer func() {
		os.Unsetenv("LISTEN_PID")
		os.Unsetenv("LISTEN_FDS")
		os.Unsetenv("LISTEN_FDNAMES")
	}()
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return nil, nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n <= 0 {
		return nil, nil
	}
	if n > 1024 {
		return nil, fmt.Errorf("LISTEN_FDS=%d: implausibly many descriptors", n)
	}
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	var out []Listener
	for i := range n {
		fd := ListenFdsStart + i
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "LISTEN_FD_"+strconv.Itoa(fd))
		ln, err := net.FileListener(f)
		f.Close() // FileListener dup'ed it
		if err == nil {
			if _, ok := ln.(*net.TCPListener); !ok {
				ln.Close()
				err = ErrNotStream
			}
		}
		if err != nil {
			for _, l := range out {
				l.Close()
			}
			return nil, fmt.Errorf("descriptor %d passed by the service manager: %w", fd, err)
		}
		l := Listener{Listener: ln}
		if i < len(names) {
			l.Name = names[i]
		}
		out = append(out, l)
	}
	return out, nil
}
