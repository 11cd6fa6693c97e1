package socks

import (
	"errors"
	"fmt"
)

// ErrIncomplete is returned, unwrapped, by every Parse function when its
// input is a valid prefix of a message: read more bytes and parse again.
// For a UDP datagram, which cannot grow, it means the datagram is truncated.
var ErrIncomplete = errors.New("socks: incomplete message")

// Sentinels for malformed messages. Parse functions wrap them in a
// *FieldError; test with errors.Is.
var (
	// ErrVersion: the version octet (VN, VER) is not the one the message
	// requires.
	ErrVersion = errors.New("socks: unsupported version")
	// ErrCommand: CD (SOCKS4) or CMD (SOCKS5) is not a known command. A
	// SOCKS5 server answers X'07' Command not supported.
	ErrCommand = errors.New("socks: unknown command")
	// ErrAddrType: ATYP is not 1, 3 or 4. A SOCKS5 server answers X'08'
	// Address type not supported.
	ErrAddrType = errors.New("socks: unknown address type")
	// ErrReserved: a field that RFC 1928 reserves as zero (RSV) is not zero.
	ErrReserved = errors.New("socks: reserved field is not zero")
	// ErrNoMethods: a SOCKS5 greeting offers no method (NMETHODS is 0), so
	// there is nothing to choose from.
	ErrNoMethods = errors.New("socks: no authentication methods offered")
	// ErrBadName: a host name is empty or contains a NUL byte.
	ErrBadName = errors.New("socks: invalid host name")
	// ErrTooLong: a NUL-terminated SOCKS4 field (USERID, or the SOCKS4a
	// host name) has no NUL within its limit, or an encoder was given a
	// field longer than the wire format can carry, or a Reader's buffer
	// filled up before a message was complete.
	ErrTooLong = errors.New("socks: field too long")
	// ErrFragmented: a UDP datagram has FRAG != 0. Fragmentation is optional
	// in RFC 1928 §7 and not implemented here, so the server drops such
	// datagrams.
	ErrFragmented = errors.New("socks: fragmented UDP datagram")
	// ErrInvalidAddr: an encoder was given an Addr it cannot encode: neither
	// or both of IP and Name set, or an address family the message cannot
	// carry.
	ErrInvalidAddr = errors.New("socks: invalid address")
)

// FieldError is the error of a malformed message: which field was wrong and
// the value found there (an octet, or a length for ErrTooLong).
type FieldError struct {
	Err    error  // one of the sentinels above
	Field  string // protocol name of the field, e.g. "VN", "CMD", "ATYP", "USERID"
	Value  int    // the offending octet, or the length seen
	Reason string // what is wrong, when the value alone does not say it
}

func (e *FieldError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("%v: %s %s", e.Err, e.Field, e.Reason)
	}
	if e.Err == ErrTooLong {
		return fmt.Sprintf("%v: %s longer than %d bytes", e.Err, e.Field, e.Value)
	}
	return fmt.Sprintf("%v: %s 0x%02x", e.Err, e.Field, e.Value)
}

func (e *FieldError) Unwrap() error { return e.Err }

// checkVersion checks the version octet (field) at the start of a message
// and then that b holds at least least bytes: the version first, so that a
// peer speaking another protocol is told so as soon as its first byte is
// in.
func checkVersion(b []byte, version byte, field string, least int) error {
	if len(b) < 1 {
		return ErrIncomplete
	}
	if b[0] != version {
		return fieldErr(ErrVersion, field, int(b[0]))
	}
	if len(b) < least {
		return ErrIncomplete
	}
	return nil
}

// parseVersionAnd parses a two-octet message: VER, then one value.
func parseVersionAnd[T ~uint8](b []byte, version byte) (v T, n int, err error) {
	if err := checkVersion(b, version, "VER", 2); err != nil {
		return 0, 0, err
	}
	return T(b[1]), 2, nil
}

func fieldErr(sentinel error, field string, value int) error {
	return &FieldError{Err: sentinel, Field: field, Value: value}
}
