package server

// The request pipeline: how a request is answered, written once for both
// session engines. The goroutine path (session_request.go) and the event
// loop (loopsession_linux.go) differ only in how they read and write a
// socket; what they choose, reply and log comes from here:
//
//	greeting  → chooseMethod
//	request   → requestLog (the log line's fields), then policyRequest
//	            and decided (session.go)
//	refused   → refusal(d)          (the line: decided)
//	failed    → failure(err)        (the line: logFailure)
//	granted   → granted, logConnected
//	any reply → appendAnswer, in the client's SOCKS version
//
//	connect   → dialSpec: from where, until when, with which options
//
// Accepting is one policy too: screenAccepted (acceptcheck.go) screens a
// connection for both accept loops, and acceptgate.Backoff paces both
// after an accept error.

import (
	"net/netip"
	"time"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// chooseMethod is the SOCKS5 method the server picks for a greeting: the
// first of its own, in order, that the client offers.
func (s *Server) chooseMethod(g socks.V5Greeting) socks.Method {
	for _, m := range s.opts.Methods {
		if g.Offers(m) {
			return m
		}
	}
	return socks.MethodNoAcceptable
}

// request is a CONNECT or BIND of either SOCKS version, as the pipeline
// needs it: the destination's address unmapped, and the user (SOCKS4's
// USERID, SOCKS5's authenticated name, else "").
type request struct {
	cmd  policy.Command
	dst  socks.Addr
	user string
}

// requestLog is the request's fields in every log line of the session.
func (ss *session) requestLog(r request) logline.Request {
	lr := logline.Request{Command: "Connect", User: r.user, Src: ss.srcName(), Service: ss.service(r.dst.Port)}
	if r.cmd == policy.CmdBind {
		lr.Command = "Bind"
	}
	switch {
	case r.dst.Name != "":
		lr.Dst = r.dst.Name
	case !r.dst.IP.IsUnspecified():
		lr.Dst = r.dst.IP.String()
	}
	return lr
}

// logConnected writes the "connected" line; peerPort is a BIND peer's
// port, "" for a CONNECT.
func (ss *session) logConnected(lr logline.Request, peerPort string) {
	ss.s.log.Info(logline.Connected(lr, peerPort), "client", ss.src.String())
}

// answer is a reply in both versions' terms; appendAnswer sends the one
// of the client's version.
type answer struct {
	v4 socks.V4ReplyCode
	v5 socks.V5ReplyCode
}

var (
	granted        = answer{socks.V4Granted, socks.V5Succeeded}
	notAllowed     = answer{socks.V4Rejected, socks.V5NotAllowed}     // a proxy loop, a BIND peer refused
	generalFailure = answer{socks.V4Rejected, socks.V5GeneralFailure} // a malformed request, a failed BIND listener
)

// refusal is the reply to a request the rules refused.
func refusal(d *policy.Decision) answer {
	return answer{socks.V4ReplyCode(d.Reply4), socks.V5ReplyCode(d.Reply5)}
}

// failure is the reply to a request permitted but not carried out: a
// failed lookup, connect (direct or through an upstream) or BIND.
// SOCKS4 has one code for all of them.
func failure(err error) answer { return answer{socks.V4Rejected, upstreamFailure(err)} }

// acceptFailure is the reply when a BIND's peer did not come.
func acceptFailure(err error) answer {
	if socks.IsTimeout(err) {
		return answer{socks.V4Rejected, socks.V5TTLExpired}
	}
	return generalFailure
}

// appendAnswer appends the reply of the client's version with the bound
// address. SOCKS4 carries an IPv4 address only (an IPv4-mapped one is
// unmapped): anything else goes as 0.0.0.0 with the bound port, which
// tells the client to use the address of the server it connected to.
func appendAnswer(b []byte, version byte, a answer, bound socks.Addr) []byte {
	if version == socks.Version4 {
		ip := netip.IPv4Unspecified()
		if ap, ok := bound.AddrPort(); ok && ap.Addr().Unmap().Is4() {
			ip = ap.Addr().Unmap()
		}
		// An IPv4 address always encodes: the error is never set.
		out, _ := socks.AppendV4Reply(b, socks.V4Reply{Code: a.v4, Bound: socks.Addr{IP: ip, Port: bound.Port}})
		return out
	}
	return appendV5Reply(b, a.v5, bound)
}

// appendV5Reply appends a reply; a bound address it cannot encode is left
// out (zero).
func appendV5Reply(b []byte, code socks.V5ReplyCode, bound socks.Addr) []byte {
	out, err := socks.AppendV5Reply(b, socks.V5Reply{Code: code, Bound: bound})
	if err != nil {
		out, _ = socks.AppendV5Reply(b, socks.V5Reply{Code: code})
	}
	return out
}

// dialSpec is how either engine connects to a destination: from the
// address outboundAddr picks (invalid: the system chooses), by the
// deadline the connect timeout sets, with TCP_NODELAY and the
// system-timed keep-alive of keepAlive (net.Dialer sets both on the
// goroutine path, the loop sets the same two socket options).
type dialSpec struct {
	from     netip.Addr
	deadline time.Time
}

// dialSpec is the connect to dst (or name, for the route file) begun at
// now; local is as for outboundAddr.
func (ss *session) dialSpec(dst netip.Addr, name string, now time.Time, local func() netip.AddrPort) dialSpec {
	return dialSpec{from: ss.outboundAddr(dst, name, local), deadline: now.Add(ss.s.opts.ConnectTimeout)}
}

// outboundAddr is the local address an outgoing connection to dst leaves
// from: the route file's interface for it; else, with SameInterface
// (srelay's -g), the address the client connected to, when it is of dst's
// family (srelay asked getaddrinfo for that family only); else none (the
// system chooses). local returns the session's local address when the
// session does not know it (an event-loop session); nil means ss.local.
func (ss *session) outboundAddr(dst netip.Addr, name string, local func() netip.AddrPort) netip.Addr {
	if la := ss.snap.routeTable.LocalAddr(dst, name); la.IsValid() || !ss.s.opts.SameInterface {
		return la
	}
	l := ss.local
	if !l.IsValid() && local != nil {
		l = local()
	}
	a := l.Addr().Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.Is4() != dst.Unmap().Is4() {
		return netip.Addr{}
	}
	return a
}
