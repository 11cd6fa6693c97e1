// Package testnet holds what the tests of several packages share, so that
// each package does not carry its own copy: loopback servers and
// connection pairs (echo.go), raw socket pairs (socketpair_unix.go), fake
// peers that talk once (once.go) or hold their connections (fakes.go), a
// datagram socket standing in for /dev/log (unixgram.go), a
// buffer for a process's output, stopping a process, bounded waits
// (wait.go), a file for one test (files.go), and what a test binary
// builds once (build.go).
package testnet

import (
	"io"
	"net"
	"testing"
)

// Echo listens on network and addr and echoes every connection until its
// end of file, then closes it. Closing the returned listener stops it.
func Echo(network, addr string) (net.Listener, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	go Serve(ln, func(c net.Conn) { io.Copy(c, c) })
	return ln, nil
}

// Serve accepts on ln until it is closed and handles each connection on a
// goroutine of its own, closing it when handle returns.
func Serve(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}

// EchoT is Echo for one test: it fails the test when it cannot listen and
// stops when the test ends.
func EchoT(t testing.TB, network, addr string) net.Listener {
	t.Helper()
	ln, err := Echo(network, addr)
	return forTest(t, ln, err)
}

// forTest fails t on err, else closes c when the test ends.
func forTest[C io.Closer](t testing.TB, c C, err error) C {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// CloserT listens on TCP addr and closes every connection it accepts at
// once: a destination for tests that look only at the proxy's decision
// and its log. It stops when the test ends.
func CloserT(t testing.TB, addr string) *net.TCPAddr {
	t.Helper()
	ln := ListenT(t, "tcp", addr)
	go Serve(ln, func(net.Conn) {})
	return ln.Addr().(*net.TCPAddr)
}

// TCPPair returns the two ends of a loopback TCP connection, both closed
// when the test ends.
func TCPPair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   *net.TCPConn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.AcceptTCP()
		ch <- res{c, err}
	}()
	a, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { a.Close(); r.c.Close() })
	return a, r.c
}

// ListenUDPT is a UDP socket on 127.0.0.1 (a client's, or a peer's that
// the test drives itself), closed when the test ends.
func ListenUDPT(t testing.TB) *net.UDPConn {
	t.Helper()
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	return forTest(t, u, err)
}

// EchoUDP answers every datagram sent to UDP addr with prefix and the
// payload. Closing the returned connection stops it.
func EchoUDP(addr, prefix string) (*net.UDPConn, error) {
	return ServeUDP(addr, func(p []byte) []byte { return append([]byte(prefix), p...) })
}

// ServeUDP answers every datagram sent to UDP addr with what answer makes
// of it (nothing when answer returns nil; its argument is valid only
// during the call). Closing the returned connection stops it.
func ServeUDP(addr string, answer func([]byte) []byte) (*net.UDPConn, error) {
	la, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	u, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, err
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := u.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if reply := answer(buf[:n]); reply != nil {
				u.WriteToUDPAddrPort(reply, from)
			}
		}
	}()
	return u, nil
}

// ServeUDPT is ServeUDP for one test: it fails the test when it cannot
// listen and stops when the test ends.
func ServeUDPT(t testing.TB, addr string, answer func([]byte) []byte) *net.UDPConn {
	t.Helper()
	u, err := ServeUDP(addr, answer)
	return forTest(t, u, err)
}

// EchoUDPT is EchoUDP for one test: it fails the test when it cannot
// listen and stops when the test ends.
func EchoUDPT(t testing.TB, addr, prefix string) *net.UDPConn {
	t.Helper()
	u, err := EchoUDP(addr, prefix)
	return forTest(t, u, err)
}
