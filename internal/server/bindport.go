package server

import (
	"net"
	"net/netip"
)

// srelayReservedStart is srelay's IPPORT_RESERVEDSTART: below it, a BIND
// never takes the requested or the client's port unless -b lifts the
// restriction (socks.c do_bind).
const srelayReservedStart = 600

// listenBindPort opens a BIND listener on la. With SrelayBind it tries, as
// srelay's bind_sock did, the port the request named, then the client's
// source port (some FTP clients expect it), then any free port; with
// srelay's restriction, ports below 600 are skipped (bound as "any").
func (ss *session) listenBindPort(la netip.Addr) (*net.TCPListener, error) {
	var try []uint16
	if ss.s.opts.SrelayBind {
		for _, p := range []uint16{ss.bindWant, ss.src.Port()} {
			if p != 0 && (ss.s.opts.BindAnyPort || p >= srelayReservedStart) {
				try = append(try, p)
			}
		}
	}
	for _, p := range try {
		if ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: la.AsSlice(), Port: int(p)}); err == nil {
			return ln, nil
		}
	}
	return net.ListenTCP("tcp", &net.TCPAddr{IP: la.AsSlice()})
}
