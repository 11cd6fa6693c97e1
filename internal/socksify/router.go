package socksify

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// Action is what a Router does with a destination.
type Action int

// The actions of socks.conf lines.
const (
	Direct Action = iota // the program's own call goes ahead
	Deny                 // the call fails with ECONNREFUSED
	Proxy                // the socket is connected through a chain
)

func (a Action) String() string {
	switch a {
	case Direct:
		return "direct"
	case Deny:
		return "deny"
	}
	return "proxy"
}

// Router decides destinations and connects sockets through the chain
// socks.conf (or one proxy URL) gives.
type Router struct {
	// Dialer holds the rules, credentials and default servers; it is
	// copied for every connection, never changed.
	Dialer *client.Dialer
	// Proxy, when set, sends every destination but the loopback addresses
	// 4.3 always reached directly through this one server (a URL).
	Proxy string
	// Logf, when set, receives one line per decision.
	Logf func(format string, args ...any)
}

// Decision is a Router's answer for one destination.
type Decision struct {
	Action Action
	Reason string
	route  *client.Route
}

func (r *Router) logf(format string, args ...any) {
	if r.Logf != nil {
		r.Logf(format, args...)
	}
}

// Decide says how dst would be reached.
func (r *Router) Decide(ctx context.Context, dst netip.AddrPort) Decision {
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	if r.Proxy != "" {
		if policy.AlwaysDirect(dst.Addr()) {
			return Decision{Action: Direct, Reason: dst.Addr().String() + " is always reached directly"}
		}
		if u, err := client.ParseUpstream(r.Proxy); err == nil {
			if ip, err := netip.ParseAddr(u.Host); err == nil && ip.Unmap() == dst.Addr() && u.Port == dst.Port() {
				return Decision{Action: Direct, Reason: "the proxy itself"}
			}
		}
		return Decision{Action: Proxy, Reason: "--proxy " + r.Proxy}
	}
	d := r.dialer(nil)
	route := d.Plan(ctx, policy.CmdConnect, client.Target{IP: dst.Addr(), Port: dst.Port()}, false)
	dec := Decision{Reason: route.Decision.Reason, route: route}
	switch route.Decision.Action {
	case config.ClientDirect:
		dec.Action = Direct
	case config.ClientDeny:
		dec.Action = Deny
	default:
		dec.Action = Proxy
	}
	return dec
}

func (r *Router) dialer(fw client.ContextDialer) *client.Dialer {
	var d client.Dialer
	if r.Dialer != nil {
		d = *r.Dialer
	}
	d.Forward = fw
	return &d
}

// Connected is a socket connected through a chain.
type Connected struct {
	Path  string     // "socks5://127.0.0.1:1080 -> ..."
	Bound socks.Addr // the address the last server reported (BND.ADDR)
}

// Connect connects the socket fd to dst through the chain of dec (a
// Proxy decision of Decide), doing the handshakes on fd itself. fd is not
// closed and its flags are not changed.
func (r *Router) Connect(ctx context.Context, fd int, dst netip.AddrPort, dec Decision) (Connected, error) {
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	fw := &fdDialer{fd: fd}
	if r.Proxy != "" {
		p, err := client.NewProxyDialer(r.Proxy, fw)
		if err != nil {
			return Connected{}, err
		}
		c, err := p.DialContext(ctx, "tcp", dst.String())
		if err != nil {
			return Connected{}, err
		}
		cc := c.(*client.Conn)
		return Connected{Path: cc.PathString(), Bound: cc.Bound}, nil
	}
	d := r.dialer(fw)
	route := dec.route
	if route == nil {
		route = d.Plan(ctx, policy.CmdConnect, client.Target{IP: dst.Addr(), Port: dst.Port()}, false)
	}
	c, err := d.Follow(ctx, route, policy.CmdConnect)
	if err != nil {
		return Connected{}, err
	}
	return Connected{Path: c.PathString(), Bound: c.Bound}, nil
}

// Bound is a BIND whose server listens.
type Bound struct {
	Bound  socks.Addr // where the last server listens, to tell the peer
	Scheme string     // the last server's scheme: its second reply's form
	// Second waits for the peer and returns its address (the server's
	// second reply).
	Second func() (socks.Addr, error)
}

// BindFD asks the chain socks.conf gives for peer for one incoming
// connection (BIND) on the socket fd, and returns once the last server
// listens. ErrDirectBind means the program should bind and listen itself.
func (r *Router) BindFD(ctx context.Context, fd int, peer netip.AddrPort) (Bound, error) {
	fw := &fdDialer{fd: fd}
	var (
		ln  *client.BindListener
		err error
	)
	if r.Proxy != "" {
		var p *client.ProxyDialer
		if p, err = client.NewProxyDialer(r.Proxy, fw); err != nil {
			return Bound{}, err
		}
		ln, err = p.Listen(ctx, peer.String())
	} else {
		d := r.dialer(fw)
		route := d.Plan(ctx, policy.CmdBind, client.Target{IP: peer.Addr().Unmap(), Port: peer.Port()}, false)
		switch {
		case route.Err != nil:
			return Bound{}, route.Err
		case route.Decision.Action == config.ClientDirect:
			return Bound{}, ErrDirectBind
		}
		ln, err = d.Bind(ctx, route)
	}
	if err != nil {
		return Bound{}, err
	}
	path := ln.Path()
	return Bound{Bound: ln.Bound(), Scheme: path[len(path)-1].Scheme, Second: ln.Second}, nil
}

// ErrDirectBind: socks.conf says the peer is reached directly, so the
// program's own bind and listen are the right calls.
var ErrDirectBind = errors.New("socksify: direct route: bind locally")

// Errno is the errno a connect(2) reports for err.
func Errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if errors.Is(err, client.ErrDenied) {
		return unix.ECONNREFUSED
	}
	var re *client.ReplyError
	if errors.As(err, &re) {
		switch codeOf(re) {
		case socks.V5NotAllowed:
			return unix.EACCES
		case socks.V5NetworkUnreachable:
			return unix.ENETUNREACH
		case socks.V5HostUnreachable:
			return unix.EHOSTUNREACH
		case socks.V5TTLExpired:
			return unix.ETIMEDOUT
		}
		return unix.ECONNREFUSED
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		return en
	}
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return unix.ETIMEDOUT
	}
	return unix.ECONNREFUSED
}

// codeOf is the SOCKS5 code of an upstream's failure reply.
func codeOf(re *client.ReplyError) socks.V5ReplyCode {
	switch {
	case re.V5 != 0:
		return re.V5
	case re.V4 == socks.V4NoIdentd || re.V4 == socks.V4IdentMismatch:
		return socks.V5NotAllowed
	case len(re.HTTP) >= 3 && (re.HTTP[:3] == "403" || re.HTTP[:3] == "407"):
		return socks.V5NotAllowed
	}
	return socks.V5ConnectionRefused
}

func describe(dst netip.AddrPort, dec Decision) string {
	return fmt.Sprintf("%s: %s (%s)", dst, dec.Action, dec.Reason)
}
