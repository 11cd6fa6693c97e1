package server

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/sockd/sockd/internal/proxyproto"
)

// ListenerOptions say how the connections of one listener are treated.
type ListenerOptions struct {
	// ProxyProtocol: every connection starts with a PROXY protocol header
	// (version 1 or 2) from a load balancer, and the rules see the client
	// it names. A connection without a valid header is closed.
	ProxyProtocol bool
	// ProxyTrusted lists the balancers allowed to send headers; a
	// connection from elsewhere is closed. Empty means any source, which
	// is safe only when nothing but the balancer can reach the listener.
	ProxyTrusted []netip.Prefix
}

// ServeListener is Serve with per-listener options.
func (s *Server) ServeListener(ln net.Listener, lo ListenerOptions) error {
	if !lo.ProxyProtocol {
		return s.serve(ln, nil)
	}
	return s.serve(ln, &lo)
}

// readProxyHeader replaces the session's client address with the one the
// balancer's header names; it reports false when the connection must be
// closed. The header is read within the handshake timeout, in the
// session's goroutine, so a silent balancer connection never blocks accept.
func (ss *session) readProxyHeader(lo *ListenerOptions) bool {
	balancer := ss.src
	if len(lo.ProxyTrusted) > 0 && !prefixesContain(lo.ProxyTrusted, balancer.Addr()) {
		ss.s.metrics.ProxyHeader("untrusted")
		ss.s.log.Warn("refused -- PROXY protocol connection from untrusted host "+balancer.Addr().String(), "client", balancer.String())
		return false
	}
	ss.client.SetReadDeadline(time.Now().Add(ss.s.opts.HandshakeTimeout))
	h, err := proxyproto.Read(ss.client)
	if err != nil {
		if errors.Is(err, proxyproto.ErrInvalid) {
			ss.s.metrics.ProxyHeader("invalid")
			ss.s.log.Warn("error -- bad PROXY protocol header from host "+balancer.Addr().String(), "client", balancer.String(), "err", err)
		} else if errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			ss.s.metrics.ProxyHeader("invalid")
			ss.s.log.Info("no PROXY protocol header", "client", balancer.String(), "err", err)
		}
		// A bare connect and close is the balancer's TCP health check.
		return false
	}
	if h.Local {
		ss.s.metrics.ProxyHeader("local")
		return true
	}
	ss.s.metrics.ProxyHeader("proxied")
	ss.src = netip.AddrPortFrom(h.Src.Addr().Unmap(), h.Src.Port())
	ss.s.log.Debug("PROXY protocol header", "client", ss.src.String(), "balancer", balancer.String(), "version", h.Version)
	return true
}

func prefixesContain(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a.Unmap()) || p.Contains(a) {
			return true
		}
	}
	return false
}
