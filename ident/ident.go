// Package ident is the RFC 1413 (Identification Protocol) client and
// server. The client asks the identd on a SOCKS client's host which user
// owns the client's TCP connection, as 4.3 sockd does for rules with ?=I or
// ?=i; the server (server.go) is that identd, answering from the kernel's
// socket tables, for the client hosts of such servers.
//
// An identd answer can be forged by whoever controls the client host, so it
// only resists casual spoofing; see the security notes of the legacy spec.
package ident

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Port is the identd port of RFC 1413 §2.
const Port = 113

// DefaultTimeout is the timeout Query uses when given none: 4.3's
// IDENTD_TIMEOUT.
const DefaultTimeout = 15 * time.Second

// MaxReplyLen bounds what Query reads: RFC 1413 lets a client abort after
// 1000 characters without an end of line.
const MaxReplyLen = 1000

// Outcomes of a query, for errors.Is.
//
// For the policy engine, ErrIdentError and ErrMalformed count as
// "unreachable" in 4.3's sense (?=I refuses with reply 92 and ?=i lets the
// request through), not as a user mismatch (93). 4.3 compared the USERID
// of an answer with the claimed id and treated every other outcome as "no
// identd": a mismatch needs a user to compare, and an ERROR or a garbled
// line names none. Treating them as a mismatch would also let anyone who can
// make identd say NO-USER or HIDDEN-USER trigger the #BAD_ID: alarm, which
// is meant for a claimed id that the client's host contradicts.
var (
	// ErrUnreachable: no answer was obtained. The connection to port 113
	// could not be made, the exchange timed out or was cancelled, or the
	// identd closed the connection before sending a complete line.
	ErrUnreachable = errors.New("ident: identd unreachable")
	// ErrIdentError: identd answered with an ERROR reply; the *ErrorReply
	// in the chain carries its error-type token (NO-USER, HIDDEN-USER,
	// INVALID-PORT, UNKNOWN-ERROR or an X-token).
	ErrIdentError = errors.New("ident: identd reported an error")
	// ErrMalformed: the answer is not an RFC 1413 reply, is longer than
	// MaxReplyLen without an end of line, or is about another port pair
	// than the one asked for.
	ErrMalformed = errors.New("ident: malformed identd reply")
)

// ErrorReply is an identd ERROR reply. It matches ErrIdentError.
type ErrorReply struct {
	Token string // the error-type token, e.g. "NO-USER", upper-cased
}

func (e *ErrorReply) Error() string { return "ident: identd reported ERROR: " + e.Token }

func (e *ErrorReply) Unwrap() error { return ErrIdentError }

// Reply is a USERID answer.
type Reply struct {
	// UserID is the user identification with surrounding blanks (spaces
	// and tabs) trimmed and every other octet kept as sent: with OS
	// "OTHER" it may be any octet string. Sanitising it for log lines is
	// the logger's job.
	UserID string
	// OS is the operating system token as sent (e.g. "UNIX", "OTHER").
	OS string
	// Charset is the optional character set token; empty means the
	// RFC 1413 default, US-ASCII.
	Charset string
}

// Query asks the identd on the client's host who owns the connection.
// local is the server's address of the client connection, remote the client's address.
// The query goes from local's IP (port 0) to remote's IP port 113 and sends
// "<remote port> , <local port>\r\n" (the client's port first, as 4.3's id_query(rport, lport)).
//
// The whole exchange, connecting included, ends within timeout (4.3 used
// 15 s) or when ctx is done, whichever is first; a timeout of zero or less
// means DefaultTimeout, so that a query is never unbounded. Query blocks only its own goroutine. Binding to
// local's IP makes identd see the connection from the address the client
// connected to, which is how it finds the right socket on a multi-homed
// server. Every error wraps ErrUnreachable, ErrIdentError or ErrMalformed.
func Query(ctx context.Context, local, remote netip.AddrPort, timeout time.Duration) (Reply, error) {
	return query(ctx, local, remote, timeout, Port)
}

// query is Query with the identd port injectable, so that tests can run a
// fake identd without the privilege that port 113 needs.
func query(ctx context.Context, local, remote netip.AddrPort, timeout time.Duration, identPort uint16) (Reply, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; dial
	// them as IPv4 so that the source and destination families agree.
	localIP, remoteIP := local.Addr().Unmap(), remote.Addr().Unmap()
	dialer := net.Dialer{}
	if localIP.IsValid() && !localIP.IsUnspecified() {
		dialer.LocalAddr = &net.TCPAddr{IP: localIP.AsSlice(), Zone: localIP.Zone()}
	}
	target := netip.AddrPortFrom(remoteIP, identPort).String()
	conn, err := dialer.DialContext(ctx, "tcp", target)
	if err != nil {
		return Reply{}, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer conn.Close()

	// Interrupt blocked reads and writes when ctx ends, by its deadline or
	// by cancellation.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	deadline, _ := ctx.Deadline() // always set: see WithTimeout above
	conn.SetDeadline(deadline)

	q := strconv.AppendUint(nil, uint64(remote.Port()), 10)
	q = append(q, " , "...)
	q = strconv.AppendUint(q, uint64(local.Port()), 10)
	q = append(q, "\r\n"...)
	if _, err := conn.Write(q); err != nil {
		return Reply{}, unreachable(ctx, err)
	}

	line, err := readLine(conn)
	if err != nil {
		if errors.Is(err, ErrMalformed) {
			return Reply{}, err
		}
		return Reply{}, unreachable(ctx, err)
	}
	return ParseReply(line, remote.Port(), local.Port())
}

// unreachable wraps a transport error, naming ctx's error when ctx ended
// the exchange (the deadline trick turns it into a plain I/O timeout).
func unreachable(ctx context.Context, err error) error {
	ctxErr := ctx.Err()
	var ne net.Error
	if ctxErr == nil && errors.As(err, &ne) && ne.Timeout() {
		// The connection's deadline equals ctx's and can fire before ctx's
		// own timer has marked ctx done.
		if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
			ctxErr = context.DeadlineExceeded
		}
	}
	if ctxErr != nil {
		return fmt.Errorf("%w: %w (%v)", ErrUnreachable, ctxErr, err)
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
}

// readLine reads one line, without its end of line, reading at most
// MaxReplyLen bytes. The line must end in LF (RFC 1413 sends CR LF; a bare
// LF is accepted): a line cut short by the end of the stream could read as
// a shorter, different user id, so it counts as no answer.
func readLine(r io.Reader) ([]byte, error) {
	buf := make([]byte, MaxReplyLen)
	filled := 0
	for filled < len(buf) {
		n, err := r.Read(buf[filled:])
		if i := bytes.IndexByte(buf[filled:filled+n], '\n'); i >= 0 {
			return bytes.TrimSuffix(buf[:filled+i], []byte{'\r'}), nil
		}
		filled += n
		if err == io.EOF {
			if filled == 0 {
				return nil, errors.New("connection closed without an answer")
			}
			return nil, errors.New("connection closed in the middle of the answer")
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: no end of line within %d bytes", ErrMalformed, MaxReplyLen)
}
