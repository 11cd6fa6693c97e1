// Package socks holds the wire codecs of the SOCKS protocol family: SOCKS4
// ("SOCKS: A protocol for TCP proxy across firewalls", the CSTC 4.3 dialect),
// SOCKS4a ("SOCKS 4A: A Simple Extension to SOCKS 4 Protocol"), SOCKS5
// (RFC 1928, including the UDP ASSOCIATE datagram header of §7) and the
// username/password sub-negotiation of RFC 1929.
//
// The package knows nothing of policy, dialing or logging: it turns bytes
// into typed messages and back, and the server and client packages decide
// what to do with them.
//
// # Parsers
//
// Every Parse function works on a byte slice and is incremental:
//
//	msg, n, err := socks.ParseV5Request(buf)
//
// It returns ErrIncomplete (unwrapped, so == works and the hot path does not
// allocate) when b holds a valid prefix of a message and more bytes are
// needed, and otherwise the message and the number n of bytes it occupies.
// Bytes after b[n] are not looked at: they belong to whatever follows (a
// client may pipeline its first payload right behind its request).
//
// A malformed message yields an error that wraps one of the exported
// sentinels (ErrVersion, ErrCommand, ErrAddrType, ErrReserved, ErrNoMethods,
// ErrBadName, ErrTooLong, ErrFragmented), so a server can pick its reply with
// errors.Is: RFC 1928 §6 wants X'07' for an unknown command and X'08' for an
// unknown address type. The error is a *FieldError carrying the offending
// value, for log lines such as 4.3's "wrong version (0x%2x)". Parsers never
// panic, whatever the input (they are fuzzed), and returned strings never
// alias the input slice, so the caller may reuse its buffer.
//
// Errors are reported in wire order, as soon as the offending byte is
// present: a request whose first byte is a wrong version fails with
// ErrVersion even if only one byte has arrived.
//
// # Encoders
//
// Every Append function appends one message to a byte slice and returns the
// extended slice, in the style of strconv.AppendInt; encoders whose input
// can be unrepresentable (a name longer than 255 bytes, an IPv6 address in a
// SOCKS4 message) also return an error and leave b unchanged. For every
// message m that an encoder accepts, Parse(Append(nil, m)) returns m and
// consumes every byte; the tests check this property on random messages.
// The exceptions are conveniences of the reply encoders: a zero Bound
// address comes back as 0.0.0.0, and AppendV4Reply unmaps an IPv4-mapped
// IPv6 address. Conversely, every parsed message re-encodes to the bytes it
// came from, except that a SOCKS4a placeholder 0.0.0.x becomes 0.0.0.1.
//
// # Reading from a connection
//
// Reader reads messages from a stream into a fixed buffer supplied by the
// caller, with as few read calls as the peer allows (never one byte at a
// time), and hands back any bytes it read beyond the last message through
// Buffered. A server must forward those bytes to the destination before it
// starts relaying: they are the client's first payload. Because Reader reads
// from the connection directly, the connection itself can later go to
// io.Copy unwrapped and keep the splice(2) fast path.
//
// # Names
//
// Host names (SOCKS4a and SOCKS5 ATYP X'03') are returned as the octets the
// client sent. Names containing NUL are rejected, because they cannot be
// handed to a resolver or logged unambiguously; every other byte is kept, so
// the parser stays a faithful codec. Sanitising names and user ids for log
// lines is the logger's job, and resolving them is the dialer's.
package socks
