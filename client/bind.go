package client

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// BindListener is one incoming connection through a server's BIND: the
// server listens (Addr is where, to be told to the peer, as an FTP client
// tells its PORT), and Accept returns the one peer that connects. Accept
// can be called once; later calls fail.
type BindListener struct {
	conn  *Conn
	last  Upstream
	bound socks.Addr

	mu       sync.Mutex
	accepted bool
}

// Listen asks for one incoming connection from the peer expected at addr
// ("host:port"; "0.0.0.0:0" accepts any peer) through the server the rules
// choose for that peer. A direct route listens here on every interface
// (a plain net.Listener).
func (d *Dialer) Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	t, err := ParseTarget(addr)
	if err != nil {
		return nil, err
	}
	r := d.Plan(ctx, policy.CmdBind, t, false)
	if r.Err == nil && r.Decision.Action == config.ClientDirect {
		return net.Listen(network, ":0")
	}
	return d.Bind(ctx, r)
}

// Bind asks the last hop of a plan for a BIND.
func (d *Dialer) Bind(ctx context.Context, r *Route) (*BindListener, error) {
	c, err := d.Follow(ctx, r, policy.CmdBind)
	if err != nil {
		return nil, err
	}
	last := c.Path[len(c.Path)-1]
	bound := c.Bound
	if bound.IP.IsValid() && bound.IP.IsUnspecified() {
		// "Use the server's address": the one the last hop was reached at.
		if ip, err := netip.ParseAddr(last.Host); err == nil {
			bound.IP = ip.Unmap()
		} else if ap, ok := addrPortOf(c.Conn.RemoteAddr()); ok && len(c.Path) == 1 {
			bound.IP = ap.Addr()
		}
	}
	return &BindListener{conn: c, last: last, bound: bound}, nil
}

func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	return netip.AddrPort{}, false
}

// Bound is the address the server announced.
func (l *BindListener) Bound() socks.Addr { return l.bound }

// Path is the chain the BIND went through.
func (l *BindListener) Path() []Upstream { return l.conn.Path }

// Addr implements net.Listener: the announced address.
func (l *BindListener) Addr() net.Addr {
	if ap, ok := l.bound.AddrPort(); ok {
		return net.TCPAddrFromAddrPort(ap)
	}
	return bindName{l.bound}
}

type bindName struct{ a socks.Addr }

func (b bindName) Network() string { return "tcp" }
func (b bindName) String() string  { return b.a.String() }

// Accept waits for the peer (the server's second reply) and returns the
// connection; the peer's address is RemoteAddr of the result.
func (l *BindListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.accepted {
		l.mu.Unlock()
		return nil, errors.New("socks: a BIND accepts one connection only")
	}
	l.accepted = true
	l.mu.Unlock()
	peer, err := l.last.second(l.conn.Conn)
	if err != nil {
		l.conn.Close()
		return nil, err
	}
	return &boundConn{Conn: l.conn, peer: peer}, nil
}

// Close gives the BIND up when Accept has not been called; after Accept,
// the returned connection is the same connection: close that instead.
func (l *BindListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.accepted {
		return nil
	}
	l.accepted = true
	return l.conn.Close()
}

// Conn is the control connection, for callers that wait for the peer in
// their own way (a daemon relaying the replies).
func (l *BindListener) Conn() *Conn { return l.conn }

// Second reads the second reply on the connection of a BIND made with
// Bind; it is Accept without the wrapping.
func (l *BindListener) Second() (socks.Addr, error) { return l.last.second(l.conn.Conn) }

type boundConn struct {
	*Conn
	peer socks.Addr
}

func (c *boundConn) RemoteAddr() net.Addr {
	if ap, ok := c.peer.AddrPort(); ok {
		return net.TCPAddrFromAddrPort(ap)
	}
	return bindName{c.peer}
}
