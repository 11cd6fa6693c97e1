// Package testnet holds what the tests of several packages share, so that
// each package does not carry its own copy: loopback servers (echo.go),
// a buffer for a process's output, stopping a process, bounded waits
// (wait.go), what a test binary builds once (build.go), and the files a
// test writes for the code under test to read (files.go).
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
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// CloserT listens on TCP addr and closes every connection it accepts at
// once: a destination for tests that look only at the proxy's decision
// and its log. It stops when the test ends.
func CloserT(t testing.TB, addr string) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go Serve(ln, func(net.Conn) {})
	return ln.Addr().(*net.TCPAddr)
}
