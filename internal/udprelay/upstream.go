package udprelay

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// UDP ASSOCIATE in rsockd mode: a datagram whose destination the client
// configuration routes through upstreams goes through a SOCKS5 UDP
// association with the first SOCKS5 server of the line, in the standard
// protocol (RFC 1928 §7: the server's relay gets the datagram with the
// header naming the destination). The association's control connection
// is made like any connection to that server (through a chain when the
// rules say so); the datagrams go straight to the relay it announces.
// Replies come back with the header naming their source, which is kept
// in the header sent on to the client.

// upstreams are one client association's upstream associations.
type upstreams struct {
	mu     sync.Mutex
	routes map[socks.Addr]*upstream // nil value: not through an upstream
	by     map[string]*upstream     // by server
}

// upstream is one association with an upstream; nil pc means the
// destination is refused (by socks.conf, or because no server of the line
// relays UDP).
type upstream struct {
	pc *client.PacketConn
}

// viaUpstream handles a datagram to dst when the client configuration
// routes dst through an upstream (or refuses it), and reports whether it
// did; false leaves the datagram to the direct path.
func (a *Association) viaUpstream(dst socks.Addr, payload []byte) bool {
	if a.cfg.Upstream == nil {
		return false
	}
	a.upMu.Lock()
	if a.up.routes == nil {
		a.up.routes = make(map[socks.Addr]*upstream)
		a.up.by = make(map[string]*upstream)
	}
	u, seen := a.up.routes[dst]
	a.upMu.Unlock()
	if !seen {
		if _, ok := a.verdict(dst); !ok {
			return true // refused by sockd.conf, or unresolvable: dropped
		}
		u = a.routeUDP(dst)
		a.upMu.Lock()
		if len(a.up.routes) >= maxDestinations {
			clear(a.up.routes)
		}
		a.up.routes[dst] = u
		a.upMu.Unlock()
	}
	if u == nil {
		return false
	}
	if u.pc != nil {
		if _, err := u.pc.WriteToAddr(payload, dst); err == nil {
			a.fromClient.Add(int64(len(payload)))
			a.touch()
		}
	}
	return true
}

// routeUDP decides how datagrams to dst travel: nil for directly.
func (a *Association) routeUDP(dst socks.Addr) *upstream {
	ss := a.cfg.Session
	ctx, cancel := context.WithTimeout(a.cfg.Context, a.cfg.ConnectTimeout)
	defer cancel()
	d := a.cfg.Upstream
	ip := dst.IP.Unmap()
	plan := d.Plan(ctx, policy.CmdUDP, client.Target{IP: ip, Name: dst.Name, Port: dst.Port}, false)
	if plan.Err != nil {
		ss.Failed(dst, "route", plan.Err)
		return &upstream{}
	}
	switch plan.Decision.Action {
	case config.ClientDirect:
		return nil
	case config.ClientDeny:
		ss.Refused(dst, plan.Decision)
		return &upstream{}
	}
	var lastErr error
	for _, h := range plan.Via {
		key := h.Upstream.String()
		a.upMu.Lock()
		u := a.up.by[key]
		a.upMu.Unlock()
		if u != nil {
			return u
		}
		pc, err := d.Associate(ctx, h.Upstream)
		if err != nil {
			a.cfg.Log.Warn("Failed to connect to sockd at "+key+": "+err.Error(), "client", a.cfg.Client.String())
			lastErr = err
			continue
		}
		if !ss.Track(pc) {
			return &upstream{}
		}
		u = &upstream{pc: pc}
		a.upMu.Lock()
		a.up.by[key] = u
		a.upMu.Unlock()
		a.cfg.Log.Info("upstream -- UDP to "+dst.String()+" via "+pathString(pc), "client", a.cfg.Client.String(),
			"relay", pc.Relay().String())
		go a.upstreamToClient(pc)
		return u
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("no server of the line")
	}
	ss.Failed(dst, "udp associate", lastErr)
	return &upstream{}
}

func pathString(pc *client.PacketConn) string { return pc.Control().PathString() }

// upstreamToClient passes the upstream relay's datagrams on to the client,
// with the header naming their source, until the association ends. Like
// the direct path it holds no buffer while no datagram arrives.
func (a *Association) upstreamToClient(pc *client.PacketConn) {
	pc.Receive(func(payload []byte, src socks.Addr) bool {
		port := uint16(a.clientPort.Load())
		if port == 0 {
			return true
		}
		h, err := socks.AppendUDPHeader(make([]byte, 0, socks.MaxUDPHeaderLen+len(payload)), socks.UDPHeader{Dst: src})
		if err != nil {
			return true
		}
		to := netip.AddrPortFrom(a.cfg.Client.Addr(), port)
		if _, err := a.clientSide.WriteToUDPAddrPort(append(h, payload...), to); err == nil {
			a.fromDst.Add(int64(len(payload)))
			a.touch()
		}
		return true
	})
}
