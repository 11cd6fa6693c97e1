package socks

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
)

// IsTimeout reports whether err is a deadline or timeout: a read, write or
// dial deadline passed (os.ErrDeadlineExceeded), a context's deadline
// passed, or any net.Error that says Timeout (a connect's ETIMEDOUT, a
// resolver that got no answer).
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// V5ReplyFor is the RFC 1928 §6 reply for an error resolving or connecting
// to a destination. The server's answer to its clients and the client
// package's ReplyCode both come from here, so they cannot drift apart:
//
//	ECONNREFUSED                              0x05 connection refused
//	ENETUNREACH, ENETDOWN                     0x03 network unreachable
//	EHOSTUNREACH, any resolver failure        0x04 host unreachable
//	a timeout (IsTimeout)                     0x04 host unreachable
//	anything else                             0x01 general failure
//
// A timeout is 0x04, not 0x06. RFC 1928 gives the codes no text beyond
// their names, and "TTL expired" names the IP failure of a datagram whose
// hop limit ran out (ICMP Time Exceeded, a routing loop), which a connect
// that got no answer is not. A host that does not answer is what "host
// unreachable" says; on the local network the kernel itself reports it so
// (EHOSTUNREACH once ARP gets no answer), and a timeout is the same fact
// seen from further away. curl and PySocks print the code's name, so 0x06
// would send the user looking for a routing loop. Dante (errno2reply) and
// microsocks (connect_socks_target) answer ETIMEDOUT with 0x06; clients
// treat both codes alike as a failed request, so nothing depends on the
// difference but the message shown. Dante and microsocks also agree on
// the rest of the table (ENETDOWN as 0x03 is microsocks'). Dante's mapping
// of ECONNRESET to 0x05 is not followed: a reset during connect is rare
// and says nothing certain about the port.
func V5ReplyFor(err error) V5ReplyCode {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return V5ConnectionRefused
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.ENETDOWN):
		return V5NetworkUnreachable
	case errors.Is(err, syscall.EHOSTUNREACH), errors.As(err, &dnsErr), IsTimeout(err):
		return V5HostUnreachable
	}
	return V5GeneralFailure
}
