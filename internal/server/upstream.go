package server

// rsockd mode: after the server's rules permit a request, the client
// configuration (socks.conf / socks.fc) decides how the destination is
// reached: directly, refused, or through upstream servers (the client
// package does the chaining). Without a client configuration nothing here
// runs and the daemon connects directly, as plain sockd. Loading and
// reporting that configuration is internal/clientconf's; here is only what
// a session does with it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/clientconf"
	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// loadClient loads the client configuration and the credentials into snap.
func (s *Server) loadClient(snap *snapshot) (err error) {
	snap.client, err = clientconf.Load(clientconf.Options{
		Path: s.opts.ClientConfigPath, Default: s.opts.ClientDefault, Srelay: s.opts.ClientConfigSrelay,
		Credentials: s.opts.CredentialsPath, DefaultServers: s.opts.DefaultServers,
		Grammar: s.opts.GrammarOptions, Pid: s.pid,
	}, s.log)
	return err
}

// upstreamDialer is the client side of a session: user is the user the
// SOCKS client claimed, matched against *=userlist; identUser the one
// identd confirmed, "" when identd was not asked or gave no user.
//
// As rsockd(8) says, to the upstream "the request appears to originate from
// user x on host B": a SOCKS4 upstream gets the confirmed user, else the
// claimed one (a client that named no one appears as "sockd"). The client's
// own password is never passed on: only the credentials file's.
func (ss *session) upstreamDialer(user, identUser string) *client.Dialer {
	userID := identUser
	if userID == "" {
		userID = user
	}
	if userID == "" {
		userID = "sockd"
	}
	return &client.Dialer{
		Rules:            ss.snap.client.Rules,
		DefaultServers:   ss.snap.client.Defaults,
		Credentials:      ss.snap.client.Credentials,
		User:             user,
		UserID:           userID,
		Forward:          sessionForward{ss},
		Resolver:         ss.s.opts.Resolver,
		HandshakeTimeout: ss.s.opts.ConnectTimeout,
		Logf: func(format string, args ...any) {
			ss.s.log.Warn(fmt.Sprintf(format, args...), "client", ss.src.String())
		},
		RunCommand: func(cmd string) { ss.s.commands.Run([]string{cmd}, nil) },
	}
}

// sessionForward makes the direct connections of a chain (to a first hop)
// from the interface the route file names, tracked by the session.
type sessionForward struct{ ss *session }

func (f sessionForward) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{}
	if la := f.ss.outboundAddr(ap.Addr(), "", nil); la.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: la.AsSlice()}
	}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if !f.ss.track(c) {
		return nil, net.ErrClosed
	}
	return c, nil
}

// nameGoesUpstream reports whether a destination name will be handed,
// unresolved, to an upstream that resolves names (socks4a, socks5h, http):
// the daemon then makes no DNS query for it, so the name does not leak to
// the local resolver, and the server rules judge it by name only.
func (ss *session) nameGoesUpstream(cmd policy.Command, name string, port uint16, user string) bool {
	if ss.snap.client == nil || name == "" {
		return false
	}
	return ss.upstreamDialer(user, "").NameGoesUpstream(cmd, client.Target{Name: name, Port: port})
}

// dialOut connects to a permitted destination: directly (ss.dial) without
// a client configuration or when it says direct, else through the
// upstreams it names. A refusal by the client configuration is logged
// here and returned as an error wrapping client.ErrDenied.
func (ss *session) dialOut(ip netip.Addr, port uint16, name, user string, lr logline.Request) (*net.TCPConn, error) {
	if ss.snap.client == nil {
		return ss.dial(ip, port, name)
	}
	ctx, cancel := context.WithTimeout(ss.context(), ss.s.opts.ConnectTimeout)
	defer cancel()
	d := ss.upstreamDialer(user, lr.Ident)
	plan := d.Plan(ctx, policy.CmdConnect, client.Target{IP: ip, Name: name, Port: port}, false)
	if plan.Err == nil {
		switch plan.Decision.Action {
		case config.ClientDirect:
			return ss.dial(plan.Target.IP, port, name)
		case config.ClientDeny:
			ss.logRouteDenied(lr, plan.Decision)
		}
	}
	c, err := d.Follow(ctx, plan, policy.CmdConnect)
	if err != nil {
		return nil, err
	}
	return ss.upstreamConn(c, lr)
}

func (ss *session) logRouteDenied(lr logline.Request, dec policy.ClientDecision) {
	line := 0
	if dec.Rule != nil {
		line = dec.Rule.Pos.Line
	}
	ss.s.log.Info(logline.Refused(lr), "client", ss.src.String(), "file", ss.snap.client.Origin.Path, "line", line,
		"reason", dec.Reason)
}

// upstreamConn unwraps a chain's connection for the relay (splice needs the
// *net.TCPConn) and logs the path taken.
func (ss *session) upstreamConn(c *client.Conn, lr logline.Request) (*net.TCPConn, error) {
	tc, ok := c.Conn.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, errors.New("upstream connection is not TCP")
	}
	ss.s.log.Info("upstream -- "+lr.Command+" to "+lr.Dst+" via "+c.PathString(), "client", ss.src.String(),
		"via", c.PathString())
	return tc, nil
}

// isRouteDenied: the refusal was already logged as such.
func isRouteDenied(err error) bool { return errors.Is(err, client.ErrDenied) }

// upstreamFailure is the SOCKS5 reply for an error of dialOut.
func upstreamFailure(err error) socks.V5ReplyCode {
	var ue *client.Error
	if errors.As(err, &ue) || isRouteDenied(err) {
		return client.ReplyCode(err)
	}
	return socks.V5ReplyFor(err)
}

// bindUpstream does a BIND through the upstream the client configuration
// names for the expected peer, relaying both replies; it reports false
// (and does nothing) when the BIND is to be done here.
func (ss *session) bindUpstream(expect netip.Addr, name, user string, lr logline.Request, rd *socks.Reader) bool {
	if ss.snap.client == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ss.context(), ss.s.opts.ConnectTimeout)
	d := ss.upstreamDialer(user, lr.Ident)
	plan := d.Plan(ctx, policy.CmdBind, client.Target{IP: expect, Name: name}, false)
	if plan.Err == nil && plan.Decision.Action == config.ClientDirect {
		cancel()
		return false
	}
	fail := func(err error) bool {
		if isRouteDenied(err) {
			ss.logRouteDenied(lr, plan.Decision)
		} else {
			ss.logFailure(lr, "bind", err)
		}
		ss.reply(failure(err), socks.Addr{})
		return true
	}
	bl, err := d.Bind(ctx, plan)
	cancel()
	if err != nil {
		return fail(err)
	}
	c := bl.Conn()
	tc, err := ss.upstreamConn(c, lr)
	if err != nil {
		return fail(err)
	}
	if !ss.reply(granted, bl.Bound()) {
		return true
	}
	// The peer may take as long as a local BIND would allow.
	tc.SetReadDeadline(time.Now().Add(ss.s.opts.BindTimeout))
	peer, err := bl.Second()
	tc.SetReadDeadline(time.Time{})
	if err != nil {
		return fail(err)
	}
	ss.grant(tc, peer, portString(peer.Port), lr, rd)
	return true
}

// ClientReport is what "sockd -t" says of the client configuration
// (clientconf.Conf.Report).
func (s *Server) ClientReport(w io.Writer) { s.snap.Load().client.Report(w) }

// WriteClientEffective writes the client configuration of rsockd mode as
// canonical text, after WriteEffective ("sockd -T"), with its default
// servers; nothing without one.
func (s *Server) WriteClientEffective(w io.Writer) error {
	return s.snap.Load().client.WriteEffective(w)
}
