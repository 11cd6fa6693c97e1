// Package resolve holds the DNS questions the daemon and the client
// library must answer alike: which one address of a name is dialled (Addr:
// IPv4 first), and which reverse names of an address are confirmed by a
// forward lookup (ConfirmedNames), for the name patterns of rules.
//
// It takes the resolver and the context from its caller and keeps no
// state: timeouts are the caller's (internal/server bounds a lookup by
// the connect or identd timeout, client by its dial's context), and so is
// what a failure means. Matching names against rules is package policy's;
// logging a client's name (srelay -r) is internal/clientname's.
package resolve

import (
	"context"
	"net"
	"net/netip"
	"slices"
)

// Addr looks name up with r and returns the one address to dial. IPv4
// addresses are preferred: the rules of a 4.3 file are written for IPv4,
// and the address decided on is the only one dialled, so that the rules
// always judge the address actually used.
func Addr(ctx context.Context, r *net.Resolver, name string) (netip.Addr, error) {
	ips, err := r.LookupNetIP(ctx, "ip", name)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(ips) == 0 {
		return netip.Addr{}, &net.DNSError{Err: "no addresses", Name: name, IsNotFound: true}
	}
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			return ip.Unmap(), nil
		}
	}
	return ips[0], nil
}

// ConfirmedNames returns ip's reverse names whose forward lookup includes
// ip again, at most limit of them (4.3's check, which took 20): a reverse
// name alone is whatever the owner of the address's zone claims.
func ConfirmedNames(ctx context.Context, r *net.Resolver, ip netip.Addr, limit int) []string {
	names, err := r.LookupAddr(ctx, ip.String())
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range names {
		if len(out) == limit {
			break
		}
		addrs, err := r.LookupNetIP(ctx, "ip", n)
		if err != nil {
			continue
		}
		if slices.ContainsFunc(addrs, func(a netip.Addr) bool { return a.Unmap() == ip.Unmap() }) {
			out = append(out, n)
		}
	}
	return out
}
