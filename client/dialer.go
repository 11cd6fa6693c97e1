package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/resolve"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// ContextDialer makes the plain connections: to a destination reached
// directly, or to a first hop.
type ContextDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Defaults of a Dialer.
const (
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultMaxHops bounds a chain; socks.conf lines that route an
	// upstream through itself would otherwise recurse for ever.
	DefaultMaxHops = 8
)

// Dialer connects to destinations the way a socks.conf says: directly,
// refused, or through SOCKS4/4a/5/5h or HTTP CONNECT servers tried in
// order. An upstream is itself reached according to the same rules, so a
// line routing the address of one upstream through another builds a
// multi-hop chain. The zero Dialer connects everything directly (4.3 with
// no socks.conf). A Dialer must not be changed once in use.
type Dialer struct {
	// Rules is the compiled socks.conf; nil connects everything directly.
	Rules *policy.ClientPolicy
	// DefaultServers are used by sockd lines without @=; nil means the
	// SOCKS_SERVER environment variable, as 4.3's clients did.
	DefaultServers []Upstream
	// Credentials for next hops; nil means none.
	Credentials *Credentials
	// User is compared with *=userlist; "" means the local user running
	// the program. UserID is the SOCKS4 USERID sent when Credentials name
	// no user for the server; "" means User.
	User, UserID string
	// Forward makes the direct connections; nil means a net.Dialer.
	Forward ContextDialer
	// Resolver resolves names this side must resolve; nil means
	// net.DefaultResolver. Resolve, when set, replaces it (a simulator
	// that must not ask DNS).
	Resolver *net.Resolver
	Resolve  func(ctx context.Context, name string) (netip.Addr, error)
	// HandshakeTimeout bounds one upstream's answer; 0 means
	// DefaultHandshakeTimeout. A server that hangs fails with reply TTL
	// expired after it.
	HandshakeTimeout time.Duration
	// MaxHops bounds chains; 0 means DefaultMaxHops.
	MaxHops int
	// Logf receives one line per upstream that failed (4.3: "Failed to
	// connect to sockd at ..."); nil discards them.
	Logf func(format string, args ...any)
	// RunCommand runs a line's shell command; nil does not run it.
	RunCommand func(command string)
}

// Target is a destination: an address, a name, or both (a name the caller
// already resolved). The rules see both; a name is handed to upstreams
// that resolve names.
type Target struct {
	IP   netip.Addr
	Name string
	Port uint16
}

func (t Target) String() string {
	if t.Name != "" {
		return net.JoinHostPort(t.Name, strconv.Itoa(int(t.Port)))
	}
	return netip.AddrPortFrom(t.IP, t.Port).String()
}

// addr is what goes into a request: the name when there is one and the
// server resolves names, else the address.
func (t Target) addr(u *Upstream) socks.Addr {
	if t.Name != "" && (u == nil || u.ResolvesNames() || !t.IP.IsValid()) {
		return socks.Addr{Name: t.Name, Port: t.Port}
	}
	return socks.Addr{IP: t.IP.Unmap(), Port: t.Port}
}

// ParseTarget reads "host:port" where host is an address or a name.
func ParseTarget(hostport string) (Target, error) {
	h, ps, err := net.SplitHostPort(hostport)
	if err != nil {
		return Target{}, err
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		if p, err := net.LookupPort("tcp", ps); err == nil {
			return targetOf(h, uint16(p)), nil
		}
		return Target{}, fmt.Errorf("bad port %q", ps)
	}
	return targetOf(h, uint16(p)), nil
}

func targetOf(host string, port uint16) Target {
	if ip, err := netip.ParseAddr(host); err == nil {
		return Target{IP: ip.Unmap(), Port: port}
	}
	return Target{Name: host, Port: port}
}

// Route is how a destination would be reached, and why.
type Route struct {
	Target   Target
	Decision policy.ClientDecision
	Trace    []policy.Step // the lines tried, when asked for
	// Via are the servers of a sockd line, to be tried in order.
	Via []Hop
	// Err says why the route cannot be used (a name that does not
	// resolve, no default server, a chain too long).
	Err error

	rules *policy.ClientPolicy
}

// Hop is one candidate server and how it is itself reached.
type Hop struct {
	Upstream Upstream // with credentials applied
	Route    *Route
}

func (d *Dialer) resolver() *net.Resolver {
	if d.Resolver != nil {
		return d.Resolver
	}
	return net.DefaultResolver
}

func (d *Dialer) user() string {
	if d.User != "" {
		return d.User
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

func (d *Dialer) maxHops() int {
	if d.MaxHops > 0 {
		return d.MaxHops
	}
	return DefaultMaxHops
}

func (d *Dialer) defaultServers() ([]Upstream, error) {
	if d.DefaultServers != nil {
		return d.DefaultServers, nil
	}
	return EnvServers()
}

// EnvServers returns the servers of SOCKS_SERVER: a comma-separated list of
// host[:port] (SOCKS4, 4.3's form) or URLs. Unset means none.
func EnvServers() ([]Upstream, error) {
	v := strings.TrimSpace(os.Getenv("SOCKS_SERVER"))
	if v == "" {
		return nil, nil
	}
	var out []Upstream
	for _, s := range strings.Split(v, ",") {
		u, err := ParseUpstream(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("SOCKS_SERVER: %w", err)
		}
		out = append(out, u)
	}
	return out, nil
}

// resolve picks the address of name to dial: IPv4 first, as the daemon
// does, for 4.3's IPv4 rules (resolve.Addr).
func (d *Dialer) resolve(ctx context.Context, name string) (netip.Addr, error) {
	if d.Resolve != nil {
		return d.Resolve(ctx, name)
	}
	return resolve.Addr(ctx, d.resolver(), name)
}

// Plan decides how t would be reached (for the command: policy.CmdConnect,
// CmdBind or CmdUDP) without connecting anywhere, following the chain of
// upstreams. With trace, every route records the lines it tried.
//
// A destination known only by name is decided first by its name: when the
// deciding line sends it to a server that resolves names (socks4a,
// socks5h, http), no DNS query is made here. Otherwise the name is resolved
// and the rules decide again with its address, as 4.3's client did.
//
// A server is never reached through itself, nor through a server that is
// being reached through it: such entries of a line are skipped, and when
// none remain the server is reached directly, as 4.3 always reached its
// servers. So "sockd @=proxy 0.0.0.0 0.0.0.0" works as 4.3's did.
func (d *Dialer) Plan(ctx context.Context, cmd policy.Command, t Target, trace bool) *Route {
	return d.plan(ctx, cmd, t, trace, 0, nil)
}

func (d *Dialer) decide(cmd policy.Command, t Target, trace bool) (policy.ClientDecision, []policy.Step) {
	if d.Rules == nil {
		return policy.ClientDecision{Action: config.ClientDirect, Index: policy.RouteDefault,
			Reason: "no socks.conf: every destination is reached directly (4.3)"}, nil
	}
	req := &policy.ClientRequest{Command: cmd, DstIP: t.IP, DstName: t.Name, DstPort: t.Port, User: d.user()}
	if !trace {
		return d.Rules.Decide(req, nil), nil
	}
	var rec policy.Recorder
	dec := d.Rules.Decide(req, &rec)
	return dec, rec.Steps
}

// plan: outer are the servers (host:port) already on the way to the final
// destination; t is one of them when depth > 0.
func (d *Dialer) plan(ctx context.Context, cmd policy.Command, t Target, trace bool, depth int, outer []string) *Route {
	r := &Route{Target: t, rules: d.Rules}
	if depth > d.maxHops() {
		r.Err = fmt.Errorf("chain longer than %d hops: does socks.conf route an upstream through itself?", d.maxHops())
		return r
	}
	r.Decision, r.Trace = d.decide(cmd, t, trace)
	if !t.IP.IsValid() && t.Name != "" && !d.namesGoUpstream(r.Decision) {
		ip, err := d.resolve(ctx, t.Name)
		if err != nil {
			r.Err = err
			return r
		}
		t.IP = ip
		r.Target = t
		r.Decision, r.Trace = d.decide(cmd, t, trace)
	}
	if r.Decision.Action != config.ClientSockd {
		return r
	}
	servers := make([]Upstream, 0, len(r.Decision.Servers))
	for _, s := range r.Decision.Servers {
		servers = append(servers, FromServer(s))
	}
	if r.Decision.Servers == nil {
		var err error
		if servers, err = d.defaultServers(); err != nil {
			r.Err = err
			return r
		}
		if len(servers) == 0 {
			r.Err = errors.New("the line names no server (@=) and SOCKS_SERVER is not set")
			return r
		}
	}
	var skipped []string
	for i, u := range servers {
		if r.Decision.Servers != nil && r.Decision.Servers[i].Pinned {
			// A srelay.conf chain: fixed hops, not the rules again.
			u = d.withCredentials(u)
			sub := d.pinnedRoute(ctx, r.Decision, r.Decision.Servers[i].Via, targetOf(u.Host, u.Port))
			r.Via = append(r.Via, Hop{Upstream: u, Route: sub})
			continue
		}
		if slices.Contains(outer, strings.ToLower(u.Addr())) {
			skipped = append(skipped, u.String())
			continue
		}
		u = d.withCredentials(u)
		sub := d.plan(ctx, policy.CmdConnect, targetOf(u.Host, u.Port), trace, depth+1,
			append(slices.Clip(outer), strings.ToLower(u.Addr())))
		r.Via = append(r.Via, Hop{Upstream: u, Route: sub})
	}
	if len(r.Via) == 0 && len(skipped) > 0 {
		if !d.resolveTarget(ctx, r) {
			return r
		}
		r.Decision.Action = config.ClientDirect
		r.Decision.Reason += "; its servers (" + strings.Join(skipped, ", ") +
			") would route a server through itself, so it is reached directly"
	}
	return r
}

// resolveTarget gives a route reached directly the address of its target
// when it names only a host; it reports false, with r.Err set, when the
// name does not resolve.
func (d *Dialer) resolveTarget(ctx context.Context, r *Route) bool {
	if r.Target.IP.IsValid() {
		return true
	}
	ip, err := d.resolve(ctx, r.Target.Name)
	if err != nil {
		r.Err = err
		return false
	}
	r.Target.IP = ip
	return true
}

// withCredentials gives u its credentials: the file's, else for SOCKS4 the
// user id.
func (d *Dialer) withCredentials(u Upstream) Upstream {
	u = d.Credentials.Apply(u)
	if u.User == "" && (u.Scheme == SchemeSOCKS4 || u.Scheme == SchemeSOCKS4a) {
		u.User = d.UserID
		if u.User == "" && d.Credentials.Len() == 0 {
			u.User = d.user()
		}
	}
	return u
}

// pinnedRoute is how a server of a srelay.conf chain is reached: through
// via[0] (itself reached through via[1:]), or directly when via is empty.
// line is the decision of the line that named the chain.
func (d *Dialer) pinnedRoute(ctx context.Context, line policy.ClientDecision, via []config.Server, t Target) *Route {
	r := &Route{Target: t, rules: d.Rules}
	where := "a srelay.conf chain"
	if line.Rule != nil {
		where = fmt.Sprintf("the chain of line %d", line.Rule.Pos.Line)
	}
	if len(via) == 0 {
		r.Decision = policy.ClientDecision{Action: config.ClientDirect, Index: policy.RouteDefault,
			Reason: "the nearest next hop of " + where + ": reached directly"}
		d.resolveTarget(ctx, r)
		return r
	}
	next := d.withCredentials(FromServer(via[0]))
	r.Decision = policy.ClientDecision{Action: config.ClientSockd, Index: policy.RouteDefault, Servers: via[:1],
		Reason: "the next nearer hop of " + where + ": " + next.String()}
	r.Via = []Hop{{Upstream: next, Route: d.pinnedRoute(ctx, line, via[1:], targetOf(next.Host, next.Port))}}
	return r
}

// namesGoUpstream: the first server of the decision resolves names, so a
// name need not be resolved here.
func (d *Dialer) namesGoUpstream(dec policy.ClientDecision) bool {
	if dec.Action != config.ClientSockd {
		return false
	}
	if dec.Servers != nil {
		return len(dec.Servers) > 0 && FromServer(dec.Servers[0]).ResolvesNames()
	}
	s, err := d.defaultServers()
	return err == nil && len(s) > 0 && s[0].ResolvesNames()
}

// Conn is a connection made by a Dialer.
type Conn struct {
	// Conn is the connection itself: to the destination, or to the first
	// hop with every handshake done (a *net.TCPConn with the default
	// Forward dialer, so a relay can splice it).
	net.Conn
	// Path lists the upstreams used, first hop first; empty for a direct
	// connection.
	Path []Upstream
	// Bound is the last upstream's BND address (for BIND: where it
	// listens).
	Bound socks.Addr
	// Route is the plan that was followed.
	Route *Route
}

// CloseWrite half-closes the connection (the end of what this side sends
// reaches the destination) when the underlying connection can.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("socks: connection cannot half-close")
}

// PathString is "direct" or the chain "socks5://a:1080 -> http://b:8080".
func (c *Conn) PathString() string { return pathString(c.Path) }

func pathString(p []Upstream) string {
	if len(p) == 0 {
		return "direct"
	}
	s := make([]string, len(p))
	for i, u := range p {
		s[i] = u.String()
	}
	return strings.Join(s, " -> ")
}

// Dial connects to addr ("host:port") over network "tcp", "tcp4" or
// "tcp6" following the rules.
func (d *Dialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

// tcpTarget checks that network is a TCP one (the only kind a SOCKS
// CONNECT carries) and parses addr, for every Dial of this package.
func tcpTarget(network, addr string) (Target, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return Target{}, fmt.Errorf("socks: network %q not supported (tcp only)", network)
	}
	return ParseTarget(addr)
}

// DialContext is Dial with a context; it returns a *Conn.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	t, err := tcpTarget(network, addr)
	if err != nil {
		return nil, err
	}
	return d.DialTarget(ctx, t)
}

// DialTarget connects to t following the rules.
func (d *Dialer) DialTarget(ctx context.Context, t Target) (*Conn, error) {
	r := d.Plan(ctx, policy.CmdConnect, t, false)
	return d.Follow(ctx, r, policy.CmdConnect)
}

// Follow connects along a plan made by Plan; for CmdBind the last hop is
// asked to BIND (Conn.Bound is where it listens).
func (d *Dialer) Follow(ctx context.Context, r *Route, cmd policy.Command) (*Conn, error) {
	c, path, bound, err := d.follow(ctx, r, cmd)
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c, Path: path, Bound: bound, Route: r}, nil
}

// DeniedError is the error of a destination that socks.conf refuses.
type DeniedError struct{ Decision policy.ClientDecision }

func (e *DeniedError) Error() string { return e.Decision.Reason }
func (e *DeniedError) Unwrap() error { return ErrDenied }

func (d *Dialer) follow(ctx context.Context, r *Route, cmd policy.Command) (net.Conn, []Upstream, socks.Addr, error) {
	if r.Err != nil {
		return nil, nil, socks.Addr{}, r.Err
	}
	if r.Decision.Command != "" && d.RunCommand != nil {
		d.RunCommand(r.Decision.Command)
	}
	switch r.Decision.Action {
	case config.ClientDeny:
		return nil, nil, socks.Addr{}, &DeniedError{Decision: r.Decision}
	case config.ClientDirect:
		if cmd != policy.CmdConnect {
			return nil, nil, socks.Addr{}, errors.New("socks: BIND and UDP of a direct route are not made by the dialer")
		}
		fw := d.Forward
		if fw == nil {
			fw = &net.Dialer{}
		}
		c, err := fw.DialContext(ctx, "tcp", netip.AddrPortFrom(r.Target.IP, r.Target.Port).String())
		return c, nil, socks.Addr{}, err
	}
	var last error
	for _, h := range r.Via {
		c, path, _, err := d.follow(ctx, h.Route, policy.CmdConnect)
		if err != nil {
			err = upstreamErr(h.Upstream, "connect", err)
			d.logf("Failed to connect to sockd at %s: %v", h.Upstream, err)
			last = err
			continue
		}
		bound, err := d.handshake(ctx, c, h.Upstream, cmd, r.Target)
		if err != nil {
			c.Close()
			d.logf("Failed to connect to sockd at %s: %v", h.Upstream, err)
			last = err
			continue
		}
		return c, append(path, h.Upstream), bound, nil
	}
	return nil, nil, socks.Addr{}, last
}

func (d *Dialer) logf(format string, args ...any) {
	if d.Logf != nil {
		d.Logf(format, args...)
	}
}

// handshake asks u, over c, for cmd to t, within the handshake timeout and
// ctx.
func (d *Dialer) handshake(ctx context.Context, c net.Conn, u Upstream, cmd policy.Command, t Target) (socks.Addr, error) {
	timeout := d.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	dst := t.addr(&u)
	var err error
	if dst, err = u.prepare(dst, func(name string) (netip.Addr, error) { return d.resolve(ctx, name) }); err != nil {
		return socks.Addr{}, upstreamErr(u, "request", err)
	}
	wc := cmdConnect
	switch cmd {
	case policy.CmdBind:
		wc = cmdBind
	case policy.CmdUDP:
		wc = cmdUDP
	}
	bound, err := u.request(c, wc, dst)
	if err != nil {
		return socks.Addr{}, err
	}
	c.SetDeadline(time.Time{})
	return bound, nil
}

// NameGoesUpstream reports whether t, known by name only, would be handed
// unresolved to a server that resolves names: the caller then need not
// (and, to avoid a DNS leak, should not) resolve it.
func (d *Dialer) NameGoesUpstream(cmd policy.Command, t Target) bool {
	if t.Name == "" || t.IP.IsValid() {
		return false
	}
	dec, _ := d.decide(cmd, Target{Name: t.Name, Port: t.Port}, false)
	return d.namesGoUpstream(dec)
}
