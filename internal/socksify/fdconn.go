package socksify

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// pollSlice bounds one poll(2) wait, so that a deadline moved by another
// goroutine (the client package cancels a handshake by moving it into the
// past) is seen promptly.
const pollSlice = 200 * time.Millisecond

// fdConn is a net.Conn over a socket descriptor owned by someone else (the
// program). It never changes the descriptor's flags — they are shared with
// the program's own descriptor — so it works on blocking and non-blocking
// sockets alike: every read and write waits in poll(2) first. Close does
// not close the descriptor.
type fdConn struct {
	fd int

	mu       sync.Mutex
	rdl, wdl time.Time
	closed   bool
}

var errClosed = errors.New("socksify: connection closed")

func (c *fdConn) deadline(write bool) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if write {
		return c.wdl, c.closed
	}
	return c.rdl, c.closed
}

// wait polls for events until they come, the deadline passes or the
// connection is closed.
func (c *fdConn) wait(events int16, write bool) error {
	for {
		dl, closed := c.deadline(write)
		if closed {
			return errClosed
		}
		slice := pollSlice
		if !dl.IsZero() {
			rem := time.Until(dl)
			if rem <= 0 {
				return os.ErrDeadlineExceeded
			}
			slice = min(slice, rem)
		}
		fds := []unix.PollFd{{Fd: int32(c.fd), Events: events}}
		n, err := unix.Poll(fds, int(slice/time.Millisecond)+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n > 0 {
			return nil // an error or hang-up is reported by the read or write itself
		}
	}
}

func (c *fdConn) Read(p []byte) (int, error) {
	for {
		if err := c.wait(unix.POLLIN, false); err != nil {
			return 0, err
		}
		n, err := unix.Read(c.fd, p)
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
			continue
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (c *fdConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		if err := c.wait(unix.POLLOUT, true); err != nil {
			return done, err
		}
		n, err := unix.Write(c.fd, p[done:])
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
			continue
		case err != nil:
			return done, os.NewSyscallError("write", err)
		}
		done += n
	}
	return done, nil
}

func (c *fdConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *fdConn) LocalAddr() net.Addr {
	sa, err := unix.Getsockname(c.fd)
	if err != nil {
		return nil
	}
	return tcpAddr(sa)
}

func (c *fdConn) RemoteAddr() net.Addr {
	sa, err := unix.Getpeername(c.fd)
	if err != nil {
		return nil
	}
	return tcpAddr(sa)
}

func (c *fdConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl, c.wdl = t, t
	c.mu.Unlock()
	return nil
}

func (c *fdConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl = t
	c.mu.Unlock()
	return nil
}

func (c *fdConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wdl = t
	c.mu.Unlock()
	return nil
}

func tcpAddr(sa unix.Sockaddr) *net.TCPAddr {
	ap, ok := addrPortOf(sa)
	if !ok {
		return nil
	}
	return net.TCPAddrFromAddrPort(ap)
}

func addrPortOf(sa unix.Sockaddr) (netip.AddrPort, bool) {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), true
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port)), true
	}
	return netip.AddrPort{}, false
}

// sockaddrFor is ap in the form a socket of domain takes: an IPv4 address
// becomes v4-mapped on an IPv6 socket.
func sockaddrFor(domain int, ap netip.AddrPort) (unix.Sockaddr, error) {
	ip := ap.Addr().Unmap()
	switch domain {
	case unix.AF_INET:
		if !ip.Is4() {
			return nil, unix.EAFNOSUPPORT
		}
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}, nil
	case unix.AF_INET6:
		return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16()}, nil
	}
	return nil, unix.EAFNOSUPPORT
}

// fdDialer is the Forward dialer of a Router: its one connection is the
// program's socket, connected to the first hop.
type fdDialer struct {
	fd   int
	mu   sync.Mutex
	used bool
}

// errUsed: a socket connects once; a socks.conf line with several servers
// can only try the first one that answers a TCP connect.
var errUsed = errors.New("socksify: the program's socket was already used by an earlier attempt")

func (f *fdDialer) Dial(network, addr string) (net.Conn, error) {
	return f.DialContext(context.Background(), network, addr)
}

func (f *fdDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if f.used {
		// A failed connect leaves a TCP socket unconnected, and Linux lets
		// it try again; a connected one cannot.
		if _, err := unix.Getpeername(f.fd); err == nil {
			return nil, errUsed
		}
	}
	f.used = true
	if err := connectFD(ctx, f.fd, ap); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: os.NewSyscallError("connect", err)}
	}
	return &fdConn{fd: f.fd}, nil
}

// connectFD connects fd to ap; on a non-blocking socket it waits for the
// connection in poll(2), until ctx ends.
func connectFD(ctx context.Context, fd int, ap netip.AddrPort) error {
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return err
	}
	sa, err := sockaddrFor(domain, ap)
	if err != nil {
		return err
	}
	for {
		err = unix.Connect(fd, sa)
		if err != unix.EINTR {
			break
		}
	}
	switch err {
	case nil, unix.EISCONN:
		return nil
	case unix.EINPROGRESS, unix.EALREADY:
	default:
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return unix.ETIMEDOUT
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(fds, int(pollSlice/time.Millisecond))
		if err == unix.EINTR || (err == nil && n == 0) {
			continue
		}
		if err != nil {
			return err
		}
		soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return err
		}
		if soerr != 0 {
			return unix.Errno(soerr)
		}
		return nil
	}
}

// ParseSockaddr reads a struct sockaddr_in or sockaddr_in6 as it lies in
// memory; ok is false for any other family or a short buffer.
func ParseSockaddr(b []byte) (netip.AddrPort, bool) {
	if len(b) < 2 {
		return netip.AddrPort{}, false
	}
	fam := binary.NativeEndian.Uint16(b)
	switch {
	case fam == unix.AF_INET && len(b) >= unix.SizeofSockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:4])), true
	case fam == unix.AF_INET6 && len(b) >= unix.SizeofSockaddrInet6:
		ip := netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[2:4])), true
	}
	return netip.AddrPort{}, false
}

// AppendSockaddr is ap as a struct sockaddr of the socket's domain (an
// IPv4 address v4-mapped for AF_INET6).
func AppendSockaddr(b []byte, domain int, ap netip.AddrPort) []byte {
	ip := ap.Addr().Unmap()
	var port [2]byte
	binary.BigEndian.PutUint16(port[:], ap.Port())
	if domain == unix.AF_INET && ip.Is4() {
		b = binary.NativeEndian.AppendUint16(b, unix.AF_INET)
		b = append(b, port[:]...)
		a := ip.As4()
		b = append(b, a[:]...)
		return append(b, make([]byte, 8)...)
	}
	b = binary.NativeEndian.AppendUint16(b, unix.AF_INET6)
	b = append(b, port[:]...)
	b = append(b, 0, 0, 0, 0) // flow info
	a := ip.As16()
	b = append(b, a[:]...)
	return append(b, 0, 0, 0, 0) // scope id
}

// IsTCP says whether fd is an IPv4 or IPv6 TCP socket, the only kind a
// SOCKS server carries.
func IsTCP(fd int) bool { return isTCP(fd) }
