package server

import (
	"time"

	"golang.org/x/sys/unix"
)

// watchClient watches the client connection while the session waits for
// a destination's connect or a BIND's peer, and calls left once the client
// closes or resets: what the session holds for it (a connecting socket, a
// listener, a goroutine) is then released at once rather than at the
// connect or bind timeout. It reads nothing, so data the client sent
// behind its request stays in the socket for the relay: POLLRDHUP reports
// the client's FIN even behind unread data. stop ends the watch; the
// caller may read the client afterwards.
func (ss *session) watchClient(left func()) (stop func()) {
	raw, err := ss.client.SyscallConn()
	if err != nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		gone := false
		raw.Read(func(fd uintptr) bool {
			p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
			n, err := unix.Poll(p, 0)
			gone = err == nil && n > 0 && p[0].Revents&(unix.POLLRDHUP|unix.POLLERR|unix.POLLHUP) != 0
			return gone // else wait for the socket's next event
		})
		if gone {
			left()
		}
	}()
	return func() {
		ss.client.SetReadDeadline(aLongTimeAgo) // ends raw.Read's wait
		<-done
		ss.client.SetReadDeadline(time.Time{})
	}
}

// aLongTimeAgo is a deadline that has passed: it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)
