package testnet

import (
	"net"
	"testing"
	"time"
)

// AcceptOnceT listens on TCP addr and hands the first connection it
// accepts to handle on a goroutine, bounded by timeout and closed when
// handle returns: a fake peer that talks once, as an upstream proxy or a
// banner server does. The listener closes when the test ends; the address
// it listens on is returned.
func AcceptOnceT(t testing.TB, addr string, timeout time.Duration, handle func(net.Conn)) string {
	t.Helper()
	ln := ListenT(t, "tcp", addr)
	AcceptOnce(ln, timeout, handle)
	return ln.Addr().String()
}

// AcceptOnce is AcceptOnceT on a listener the test made itself (one with
// socket options of its own). If the accept fails (the listener closed),
// handle does not run.
func AcceptOnce(ln net.Listener, timeout time.Duration, handle func(net.Conn)) {
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		handle(c)
	}()
}
