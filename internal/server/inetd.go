package server

import (
	"errors"
	"fmt"
	"net"
	"os"
)

// errNotSocket: inetd mode needs a socket on standard input.
var errNotSocket = errors.New("standard input is not a TCP socket (--inetd expects the connection on fd 0)")

// ServeInetd serves the one connection inetd passed on standard input.
func (s *Server) ServeInetd() error {
	c, err := fileConn(os.Stdin)
	if err != nil {
		return err
	}
	if s.opts.AcceptCheck != nil && s.refusedAtAccept(c.RemoteAddr(), c.LocalAddr()) {
		c.Close() // as tcpd would have: the connection ends unanswered
		return nil
	}
	s.ServeConn(c)
	return nil
}

func fileConn(f *os.File) (*net.TCPConn, error) {
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotSocket, err)
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, errNotSocket
	}
	return tc, nil
}
