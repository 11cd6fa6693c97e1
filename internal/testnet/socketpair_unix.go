//go:build unix

package testnet

import (
	"testing"

	"golang.org/x/sys/unix"
)

// SocketPairT is a connected pair of non-blocking stream sockets (raw
// descriptors, for code that makes its own system calls), closed at the
// end of the test.
func SocketPairT(t testing.TB) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}
