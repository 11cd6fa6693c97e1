package server

import (
	"io"
	"net/netip"
	"time"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/udprelay"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// DefaultUDPTimeout ends a UDP association with no datagram either way for
// this long (--udp-timeout). Peers keep idle UDP flows for minutes: Linux
// conntrack forgets an assured UDP stream after 120 s, sing-box's SOCKS
// inbound after 5 min (udp_timeout). Two minutes is long enough for DNS
// and keep-alive protocols, short enough that forgotten associations do
// not pile up.
const DefaultUDPTimeout = 2 * time.Minute

// udpTimeout is how long an association may go without a datagram: the
// UDP timeout, or the relay idle timeout when that is shorter.
func (s *Server) udpTimeout() time.Duration {
	d := s.opts.UDPTimeout
	if d <= 0 {
		d = DefaultUDPTimeout
	}
	if s.opts.IdleTimeout > 0 {
		d = min(d, s.opts.IdleTimeout)
	}
	return d
}

// udpAssociate answers a SOCKS5 UDP ASSOCIATE (RFC 1928 §7) and serves the
// association (package udprelay) until it ends: with its control
// connection, when the client sends anything on that connection (RFC 1928
// gives it nothing to say), or after the UDP timeout without a datagram
// either way.
func (ss *session) udpAssociate(req socks.V5Request, user string) {
	lr := logline.Request{Command: "UDP", User: user, Src: ss.srcName(), Service: ss.service(req.Dst.Port)}
	if !req.Dst.IP.IsUnspecified() || req.Dst.Name != "" {
		lr.Dst = req.Dst.String()
	}
	cfg := udprelay.Config{
		Control: ss.client, Client: ss.src, Port: req.Dst.Port, Timeout: ss.s.udpTimeout(),
		Log: ss.s.log, Session: udpSession{ss, user},
		Context: ss.s.kill, ConnectTimeout: ss.s.opts.ConnectTimeout,
	}
	if ss.snap.client != nil {
		cfg.Upstream = ss.upstreamDialer(user, "")
	}
	a, err := udprelay.Open(ss.local.Addr(), cfg)
	if err != nil {
		ss.logFailure(lr, "bind", err)
		ss.replyV5(socks.V5GeneralFailure, socks.Addr{})
		return
	}
	if !ss.track(a) {
		return
	}
	if !ss.replyV5(socks.V5Succeeded, socks.AddrFromAddrPort(a.Addr())) {
		return
	}
	ss.s.log.Info(logline.Connected(lr, ""), "client", ss.src.String(), "relay", a.Addr().String())
	why := a.Serve()
	fromClient, fromDst := a.Bytes()
	ss.s.log.Info(logline.Terminated(lr, fromClient, fromDst), "client", ss.src.String(),
		"bytes_from_client", fromClient, "bytes_from_destination", fromDst, "ended", why)
}

// udpSession lends an association the session's rules and log lines; user
// is the user the association was asked for.
type udpSession struct {
	ss   *session
	user string
}

// Decide judges a destination as a CONNECT's is logged, by name before
// any DNS query when the rules allow (decideName).
func (u udpSession) Decide(dst socks.Addr) (netip.AddrPort, bool) {
	ss := u.ss
	lr := logline.Request{Command: "Connect", User: u.user, Src: ss.srcName(), Dst: dst.Name, Service: ss.service(dst.Port)}
	ip := dst.IP.Unmap()
	var d policy.Decision
	var resolveErr error
	if dst.Name != "" {
		d, resolveErr = ss.decideName(policy.CmdUDP, &ip, dst.Name, dst.Port, u.user, &lr)
	} else {
		lr.Dst = ip.String()
		d = ss.decide(ss.policyRequest(policy.CmdUDP, ip, dst.Name, dst.Port, u.user), &lr)
	}
	if d.Permit && resolveErr != nil {
		ss.logFailure(lr, "resolve", resolveErr)
	}
	if !d.Permit || resolveErr != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip, dst.Port), true
}

func (u udpSession) upstreamLog(dst socks.Addr) logline.Request {
	return logline.Request{Command: "UDP", User: u.user, Src: u.ss.srcName(), Dst: dst.String(), Service: u.ss.service(dst.Port)}
}

func (u udpSession) Failed(dst socks.Addr, op string, err error) {
	u.ss.logFailure(u.upstreamLog(dst), op, err)
}

func (u udpSession) Refused(dst socks.Addr, d policy.ClientDecision) {
	u.ss.logRouteDenied(u.upstreamLog(dst), d)
}

func (u udpSession) Track(c io.Closer) bool { return u.ss.track(c) }
