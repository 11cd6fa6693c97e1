//go:build !linux

package relay

import (
	"io"
	"net"
)

// spliceBulk moves src to dst until src's end of file (nil error), src's
// read deadline or an error, as on Linux; elsewhere there is no splice(2),
// and io.Copy is what the platform offers.
func (rs *Relays) spliceBulk(dst, src *net.TCPConn) (int64, error) {
	return io.Copy(dst, src)
}

// sendMore writes p to c; the MSG_MORE hint that lets Linux send a last
// reply and its FIN in one segment is Linux's own.
func sendMore(c *net.TCPConn, p []byte) (int, error) { return c.Write(p) }
