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
	ln, err := net.Listen("tcp", addr)
	ln = forTest(t, ln, err)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		handle(c)
	}()
	return ln.Addr().String()
}
