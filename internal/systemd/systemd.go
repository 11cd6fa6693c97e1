// Package systemd is the daemon's policy over the two systemd protocols,
// whose wire is go-systemd's: sd_notify(3) messages are sent with
// daemon.SdNotify, and the sockets of sd_listen_fds(3) are taken with
// activation.Files. What is left here is what the library leaves to its
// callers: the RELOADING=1 message with its clock, and the rule that every
// passed descriptor must be a listening TCP socket (activation.Listeners
// would leave a nil in the list for any other kind and say nothing).
package systemd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
)

// Reloading is the state that announces a reload: RELOADING=1 with the
// time it began (MONOTONIC_USEC), as sd_notify(3) requires so that the
// manager can order the reload.
func Reloading() string {
	return daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec()
}

// Listener is one socket passed by the service manager.
type Listener struct {
	net.Listener
	Name string // from LISTEN_FDNAMES (the .socket unit's FileDescriptorName=), "" if unnamed
}

// ErrNotStream is returned for a passed descriptor that is not a listening
// stream socket (a unit with ListenDatagram=, for example).
var ErrNotStream = errors.New("not a listening TCP socket")

// listenFdsStart is the first descriptor passed (SD_LISTEN_FDS_START).
const listenFdsStart = 3

// maxPassed bounds LISTEN_FDS: activation.Files makes one *os.File per
// descriptor it claims, so a corrupt count must not get that far.
const maxPassed = 1024

// Listeners returns the listening sockets passed in LISTEN_FDS when
// LISTEN_PID names this process, and unsets the variables so that child
// processes (shell commands of the rules) do not think they were passed
// too. It returns nil, nil when nothing was passed, and an error naming
// the descriptor when one is not a listening TCP socket.
func Listeners() ([]Listener, error) {
	if n, err := strconv.Atoi(os.Getenv("LISTEN_FDS")); err == nil && n > maxPassed &&
		os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) {
		activation.Files(true) // only unsets the variables: it would make n files
		return nil, fmt.Errorf("LISTEN_FDS=%d: implausibly many descriptors", n)
	}
	files := activation.Files(true)
	var out []Listener
	for i, f := range files {
		fd := listenFdsStart + i // not f.Fd(), which would make the socket blocking
		ln, err := net.FileListener(f)
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
			for _, f := range files[i:] {
				f.Close() // else the garbage collector would, at some later time
			}
			return nil, fmt.Errorf("descriptor %d passed by the service manager: %w", fd, err)
		}
		f.Close() // FileListener dup'ed it
		l := Listener{Listener: ln, Name: f.Name()}
		// activation.Files names an unnamed descriptor LISTEN_FD_<fd>;
		// the daemon's log says name="" for it, as before.
		if l.Name == "LISTEN_FD_"+strconv.Itoa(fd) {
			l.Name = ""
		}
		out = append(out, l)
	}
	return out, nil
}
