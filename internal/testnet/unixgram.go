package testnet

import (
	"net"
	"testing"
)

// ListenUnixgram opens a Unix datagram socket at path, the test's stand-in
// for /dev/log or a service manager's notify socket, and closes it when
// the test ends. A socket that cannot be opened fails the test.
func ListenUnixgram(t testing.TB, path string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
