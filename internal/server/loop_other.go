//go:build !linux

package server

import "net"

// loops are Linux's event loops (loop_linux.go); elsewhere every session
// runs on a goroutine.
type loops struct{}

func (s *Server) serveLoops(net.Listener) (served bool, err error) { return false, nil }
