package testnet

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

// ListenT listens on network and addr and closes the listener when the
// test ends.
func ListenT(t testing.TB, network, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen(network, addr)
	return forTest(t, ln, err)
}

// ClosedAddr returns a loopback host:port that nothing listened on a
// moment ago: a destination that refuses.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreeLoopbackPort(t)))
}

// Hold accepts on ln until the test ends and runs handle for each
// connection on a goroutine of its own. Unlike Serve it leaves the
// connection open when handle returns, so a peer that hangs (an identd
// that never answers, a server that never speaks) just returns; when the
// test ends it closes ln, waits for the accept loop and closes every
// connection it accepted.
func Hold(t testing.TB, ln net.Listener, handle func(net.Conn)) {
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go handle(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
}
