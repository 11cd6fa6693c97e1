package server

import (
	"fmt"
	"net"
	"os"
)

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
