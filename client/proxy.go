package client

import (
	"context"
	"net"
	"net/url"
	"time"

	"golang.org/x/net/proxy"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/policy"
)

// ProxyDialer connects through one proxy, given by URL, with no rules: a
// golang.org/x/net/proxy Dialer and ContextDialer. Register it for the
// schemes x/net/proxy does not know with
//
//	proxy.RegisterDialerType("socks4", client.ProxyFromURL)
type ProxyDialer struct {
	d Dialer
	u Upstream
}

var (
	_ proxy.Dialer        = (*ProxyDialer)(nil)
	_ proxy.ContextDialer = (*ProxyDialer)(nil)
)

// NewProxyDialer returns a dialer through the proxy at rawURL
// ("socks5h://user:pw@host:1080", "http://host:3128", "host:1080" for
// SOCKS4); forward makes the connection to the proxy (nil: direct).
func NewProxyDialer(rawURL string, forward proxy.Dialer) (*ProxyDialer, error) {
	return NewProxyDialerWith(rawURL, forward, ProxyOptions{})
}

// ProxyOptions are what a ProxyDialer takes from its user beyond the URL,
// as a Dialer does: the zero value sends the local user as the SOCKS4
// USERID and uses no credentials file.
type ProxyOptions struct {
	// UserID is the SOCKS4 USERID when neither the URL nor Credentials
	// name a user; "" means the local user running the program (4.3's
	// clients sent it, and an identd-checking server refuses an empty one).
	UserID string
	// Credentials give the user and password when the URL names none.
	Credentials *Credentials
	// HandshakeTimeout bounds the proxy's answer; 0 means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
}

// NewProxyDialerWith is NewProxyDialer with options.
func NewProxyDialerWith(rawURL string, forward proxy.Dialer, o ProxyOptions) (*ProxyDialer, error) {
	u, err := ParseUpstream(rawURL)
	if err != nil {
		return nil, err
	}
	p := newProxyDialer(u, forward)
	p.d.HandshakeTimeout = o.HandshakeTimeout
	if p.u.User == "" && p.u.Password == "" {
		p.u = o.Credentials.Apply(p.u)
	}
	if p.u.User == "" && (p.u.Scheme == SchemeSOCKS4 || p.u.Scheme == SchemeSOCKS4a) {
		p.d.User = o.UserID
		p.u.User = p.d.user()
	}
	return p, nil
}

// ProxyFromURL has the signature proxy.RegisterDialerType wants.
func ProxyFromURL(u *url.URL, forward proxy.Dialer) (proxy.Dialer, error) {
	up, err := FromURL(u)
	if err != nil {
		return nil, err
	}
	return newProxyDialer(up, forward), nil
}

func newProxyDialer(u Upstream, forward proxy.Dialer) *ProxyDialer {
	p := &ProxyDialer{u: u}
	if forward != nil && forward != proxy.Direct {
		p.d.Forward = ctxDialer{forward}
	}
	return p
}

type ctxDialer struct{ d proxy.Dialer }

func (c ctxDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if cd, ok := c.d.(proxy.ContextDialer); ok {
		return cd.DialContext(ctx, network, addr)
	}
	return c.d.Dial(network, addr)
}

// Upstream is the proxy, credentials included.
func (p *ProxyDialer) Upstream() Upstream { return p.u }

// Dial connects to addr through the proxy.
func (p *ProxyDialer) Dial(network, addr string) (net.Conn, error) {
	return p.DialContext(context.Background(), network, addr)
}

// DialContext connects to addr through the proxy.
func (p *ProxyDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	t, err := tcpTarget(network, addr)
	if err != nil {
		return nil, err
	}
	r := p.route(ctx, t)
	return p.d.Follow(ctx, r, policy.CmdConnect)
}

// route is the one-proxy plan: the proxy reached directly.
func (p *ProxyDialer) route(ctx context.Context, t Target) *Route {
	r := &Route{Target: t, Decision: policy.ClientDecision{Action: config.ClientSockd, Reason: "one proxy: " + p.u.String()}}
	if t.Name != "" && !p.u.ResolvesNames() {
		ip, err := p.d.resolve(ctx, t.Name)
		if err != nil {
			r.Err = err
			return r
		}
		r.Target.IP = ip
	}
	hop := targetOf(p.u.Host, p.u.Port)
	if hop.Name != "" {
		ip, err := p.d.resolve(ctx, hop.Name)
		if err != nil {
			r.Err = upstreamErr(p.u, "connect", err)
			return r
		}
		hop.IP = ip
	}
	r.Via = []Hop{{Upstream: p.u, Route: &Route{Target: hop, Decision: policy.ClientDecision{Action: config.ClientDirect, Reason: "first hop"}}}}
	return r
}

// Listen does a BIND through the proxy for the peer expected at addr.
func (p *ProxyDialer) Listen(ctx context.Context, addr string) (*BindListener, error) {
	t, err := ParseTarget(addr)
	if err != nil {
		return nil, err
	}
	return p.d.Bind(ctx, p.route(ctx, t))
}

// LoadRules compiles a socks.conf or frozen socks.fc.
func LoadRules(path string) (*policy.ClientPolicy, error) {
	conf, _, err := load.Socks(path, load.Options{})
	if err != nil {
		return nil, err
	}
	return policy.NewClient(conf, policy.Options{})
}

// DefaultRules follows 4.3's lookup: /etc/socks.fc, then /etc/socks.conf;
// with neither it returns nil, which routes everything directly.
func DefaultRules() (*policy.ClientPolicy, error) {
	path, ok := load.FindFirst(load.SocksFC, load.SocksConf)
	if !ok {
		return nil, nil
	}
	return LoadRules(path)
}

// FromEnvironment is the Dialer 4.3's clients were: the rules of
// /etc/socks.fc or /etc/socks.conf and SOCKS_SERVER as the default server.
// credentials may be "" for none.
func FromEnvironment(credentials string) (*Dialer, error) {
	rules, err := DefaultRules()
	if err != nil {
		return nil, err
	}
	d := &Dialer{Rules: rules}
	if credentials != "" {
		if d.Credentials, err = LoadCredentials(credentials); err != nil {
			return nil, err
		}
	}
	return d, nil
}
