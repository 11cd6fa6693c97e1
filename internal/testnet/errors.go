package testnet

import (
	"net"
	"testing"
	"time"
)

// DeadlineErr returns the error a read gets on a real loopback connection
// whose deadline has passed, for tests of what a timeout is answered with.
func DeadlineErr(t testing.TB) error {
	t.Helper()
	ln := EchoT(t, "tcp", "127.0.0.1:0")
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(-time.Second))
	_, err = c.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("a read past its deadline succeeded")
	}
	return err
}

// RefusedErr returns the error of a TCP connect to a loopback port that
// was just closed (connection refused).
func RefusedErr(t testing.TB) error {
	t.Helper()
	addr := ClosedAddr(t)
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
		t.Fatalf("%s accepted a connection", addr)
	}
	return err
}
