package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/sockd/sockd/internal/udppool"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// PacketConn is a SOCKS5 UDP association (RFC 1928 §7): datagrams written
// to a destination go to the server's relay with the standard header, and
// datagrams read come from the relay with the header naming their source.
// The association lasts as long as its control connection; Close ends
// both.
type PacketConn struct {
	udp     *net.UDPConn
	control *Conn
	relay   netip.AddrPort
}

// Associate opens a UDP association with upstream u (which must speak
// SOCKS5). The control connection is made following the rules, like any
// connection to u; the datagrams go straight to the relay address the
// server announces.
func (d *Dialer) Associate(ctx context.Context, u Upstream) (*PacketConn, error) {
	if u.Scheme != SchemeSOCKS5 && u.Scheme != SchemeSOCKS5h {
		return nil, upstreamErr(u, "udp associate", fmt.Errorf("%s cannot relay UDP (SOCKS5 only)", u.Scheme))
	}
	r := d.Plan(ctx, policy.CmdConnect, targetOf(u.Host, u.Port), false)
	c, path, _, err := d.follow(ctx, r, policy.CmdConnect)
	if err != nil {
		return nil, upstreamErr(u, "connect", err)
	}
	// The datagrams come from this socket; its address goes in the request
	// so that a strict server knows the client.
	local, _ := addrPortOf(c.LocalAddr())
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: local.Addr().AsSlice()})
	if err != nil {
		c.Close()
		return nil, err
	}
	from := socks.AddrFromAddrPort(netip.AddrPortFrom(local.Addr(), uint16(udp.LocalAddr().(*net.UDPAddr).Port)))
	if len(path) > 0 {
		// Behind another hop our address means nothing to the server.
		from = socks.Addr{IP: netip.IPv4Unspecified()}
	}
	bound, err := d.handshake(ctx, c, u, policy.CmdUDP, Target{IP: from.IP, Port: from.Port})
	if err != nil {
		c.Close()
		udp.Close()
		return nil, err
	}
	relay, ok := bound.AddrPort()
	if !ok {
		c.Close()
		udp.Close()
		return nil, upstreamErr(u, "udp associate", errors.New("relay address is a name"))
	}
	if relay.Addr().IsUnspecified() {
		if ap, ok := addrPortOf(c.RemoteAddr()); ok {
			relay = netip.AddrPortFrom(ap.Addr(), relay.Port())
		}
	}
	relay = netip.AddrPortFrom(relay.Addr().Unmap(), relay.Port())
	pc := &PacketConn{udp: udp, control: &Conn{Conn: c, Path: append(path, u), Route: r}, relay: relay}
	// The association ends when the server closes the control connection.
	go func() {
		var b [64]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				udp.Close()
				return
			}
		}
	}()
	return pc, nil
}

// Control is the association's control connection (its Path is the chain
// to the server).
func (p *PacketConn) Control() *Conn { return p.control }

// Relay is the server's relay address.
func (p *PacketConn) Relay() netip.AddrPort { return p.relay }

// LocalAddr is the local UDP socket's address.
func (p *PacketConn) LocalAddr() net.Addr { return p.udp.LocalAddr() }

// WriteToAddr sends payload to dst through the relay.
func (p *PacketConn) WriteToAddr(payload []byte, dst socks.Addr) (int, error) {
	b, err := socks.AppendUDPHeader(make([]byte, 0, socks.MaxUDPHeaderLen+len(payload)), socks.UDPHeader{Dst: dst})
	if err != nil {
		return 0, err
	}
	b = append(b, payload...)
	if _, err := p.udp.WriteToUDPAddrPort(b, p.relay); err != nil {
		return 0, err
	}
	return len(payload), nil
}

// WriteTo implements net.PacketConn; addr is a *net.UDPAddr.
func (p *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("socks: WriteTo wants a *net.UDPAddr, not %T", addr)
	}
	ap := ua.AddrPort()
	return p.WriteToAddr(b, socks.AddrFromAddrPort(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())))
}

// ReadFromAddr reads one datagram from the relay into b and returns the
// payload's length and its source. Datagrams from anywhere but the relay,
// and malformed or fragmented ones, are dropped.
func (p *PacketConn) ReadFromAddr(b []byte) (n int, src socks.Addr, err error) {
	err = p.Receive(func(payload []byte, from socks.Addr) bool {
		n, src = copy(b, payload), from
		return false
	})
	return n, src, err
}

// Receive passes each datagram from the relay to fn, payload and source,
// until fn returns false (Receive returns nil) or the association ends
// (its error). Datagrams from anywhere but the relay, and malformed or
// fragmented ones, are dropped. No buffer is held while no datagram
// arrives (package udppool): payload is fn's only until it returns.
func (p *PacketConn) Receive(fn func(payload []byte, src socks.Addr) bool) error {
	return udppool.Recv(p.udp, 0, func(buf []byte, n int, from netip.AddrPort) bool {
		if from != p.relay {
			return true
		}
		h, hn, err := socks.ParseUDPHeader(buf[:n])
		if err != nil {
			return true
		}
		return fn(buf[hn:n], h.Dst)
	})
}

// ReadFrom implements net.PacketConn.
func (p *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, src, err := p.ReadFromAddr(b)
	if err != nil {
		return 0, nil, err
	}
	if ap, ok := src.AddrPort(); ok {
		return n, net.UDPAddrFromAddrPort(ap), nil
	}
	return n, bindName{src}, nil
}

// Close ends the association.
func (p *PacketConn) Close() error {
	p.udp.Close()
	return p.control.Close()
}

// SetDeadline and its siblings apply to the UDP socket.
func (p *PacketConn) SetDeadline(t time.Time) error      { return p.udp.SetDeadline(t) }
func (p *PacketConn) SetReadDeadline(t time.Time) error  { return p.udp.SetReadDeadline(t) }
func (p *PacketConn) SetWriteDeadline(t time.Time) error { return p.udp.SetWriteDeadline(t) }
