package server

import (
	"context"
	"net"
)

// keepAlive is the TCP keep-alive of every client and destination
// connection: on, with the system's timings (two hours of silence by
// default, as 4.3 got from SO_KEEPALIVE), so a peer that vanished is found
// without three extra setsockopt calls per socket, which Go's 15-second
// defaults cost on every accept and every dial.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: -1, Interval: -1, Count: -1}

// Listen opens a listening TCP socket for Serve.
func Listen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAliveConfig: keepAlive}
	return lc.Listen(context.Background(), "tcp", addr)
}
