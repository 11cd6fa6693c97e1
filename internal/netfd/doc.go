// Package netfd converts between raw socket descriptors and Go's
// networking values: a socket address as a netip.AddrPort and back, a
// socket's local address, and a connected descriptor as a *net.TCPConn.
// The server's event loop (internal/server, loop_linux.go and
// loopsession_linux.go) works on descriptors with raw system calls, and
// needs these at its edges: to screen and log an accepted client, to
// connect, and to hand a session to the goroutine engine.
//
// It makes no system call of its own beyond getsockname and the
// descriptor duplication of net.FileConn; the epoll loop is
// internal/reactor, the relay's reads and writes on descriptors are
// internal/relay.
package netfd
