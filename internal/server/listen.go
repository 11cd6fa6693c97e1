package server

import (
	"context"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// keepAlive is the TCP keep-alive of every destination connection: on,
// with the system's timings (two hours of silence by default, as 4.3 got
// from SO_KEEPALIVE), so a peer that vanished is found without the three
// extra setsockopt calls per socket that Go's 15-second defaults cost.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: -1, Interval: -1, Count: -1}

// Listen opens a listening TCP socket for Serve. Its clients get the same
// system-timed keep-alive as destinations, for no system call at all:
// SO_KEEPALIVE is set once on the listening socket, whose accepted sockets
// inherit it on Linux, and Go is told to leave keep-alive alone
// (KeepAlive -1) instead of setting it on every accept.
func Listen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1, Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	return lc.Listen(context.Background(), "tcp", addr)
}
