package client

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/sockd/sockd/socks"
)

// ErrDenied is wrapped by the error of a destination that socks.conf
// refuses.
var ErrDenied = errors.New("refused by socks.conf")

// Error says which upstream failed, at which step, and why. Code is the
// SOCKS5 reply that best tells a client of a SOCKS server what happened,
// so that a daemon chaining through upstreams answers precisely:
//
//	the upstream refused the request by its rules        0x02 not allowed
//	the upstream could not reach the destination         its own reply (0x03..0x06)
//	an HTTP upstream answered 403 / 502, 503 / 504       0x02 / 0x04 / 0x06
//	the upstream cannot be reached (refused, no route)   0x03 network unreachable
//	the upstream did not answer in time (it hangs)       0x06 TTL expired
//	anything else (a protocol error, failed login)       0x01 general failure
type Error struct {
	Upstream string // the server, without credentials ("socks5://127.0.0.1:1080")
	Op       string // "connect", "greeting", "authentication", "request", "bind", "udp associate"
	Code     socks.V5ReplyCode
	Err      error
}

func (e *Error) Error() string {
	return fmt.Sprintf("upstream %s: %s: %v", e.Upstream, e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ReplyError is an upstream's failure reply.
type ReplyError struct {
	V4   socks.V4ReplyCode // set for SOCKS4 upstreams
	V5   socks.V5ReplyCode // set for SOCKS5 upstreams
	HTTP string            // the status line of an HTTP upstream
}

func (e *ReplyError) Error() string {
	switch {
	case e.HTTP != "":
		return "answered " + e.HTTP
	case e.V4 != 0:
		return fmt.Sprintf("answered %d (%v)", e.V4, e.V4)
	}
	return fmt.Sprintf("answered 0x%02x (%v)", byte(e.V5), e.V5)
}

// ReplyCode picks the SOCKS5 reply for any error of this package, and for
// plain network errors of a direct connection (socks.V5ReplyFor).
func ReplyCode(err error) socks.V5ReplyCode {
	var ue *Error
	if errors.As(err, &ue) {
		return ue.Code
	}
	if errors.Is(err, ErrDenied) {
		return socks.V5NotAllowed
	}
	return socks.V5ReplyFor(err) // the server's own mapping, so the two agree
}

// upstreamErr wraps err with the upstream and step, choosing Code.
func upstreamErr(u Upstream, op string, err error) error {
	var ue *Error
	if errors.As(err, &ue) {
		return err // a later hop's error, already precise
	}
	e := &Error{Upstream: u.String(), Op: op, Err: err, Code: socks.V5GeneralFailure}
	var re *ReplyError
	switch {
	case errors.As(err, &re):
		e.Code = replyCodeOf(re)
	case socks.IsTimeout(err):
		e.Code = socks.V5TTLExpired
	case op == "connect" && (errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ECONNRESET)):
		e.Code = socks.V5NetworkUnreachable
	case op == "connect":
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			e.Code = socks.V5NetworkUnreachable
		}
	}
	return e
}

func replyCodeOf(re *ReplyError) socks.V5ReplyCode {
	switch {
	case re.V5 != 0:
		return re.V5
	case re.V4 != 0:
		// 91 says only "rejected or failed"; 92 and 93 are refusals.
		if re.V4 == socks.V4NoIdentd || re.V4 == socks.V4IdentMismatch {
			return socks.V5NotAllowed
		}
		return socks.V5GeneralFailure
	}
	if len(re.HTTP) >= 3 {
		switch re.HTTP[:3] {
		case "403", "407":
			return socks.V5NotAllowed
		case "502", "503":
			return socks.V5HostUnreachable
		case "504":
			return socks.V5TTLExpired
		}
	}
	return socks.V5GeneralFailure
}
