package socks

import (
	"net/netip"
	"strconv"
)

// SOCKS5 wire format (RFC 1928):
//
//	greeting (§3):      VER=5 | NMETHODS | METHODS (NMETHODS octets)
//	method choice (§3): VER=5 | METHOD
//	request (§4):       VER=5 | CMD | RSV=0 | ATYP | DST.ADDR | DST.PORT(2)
//	reply (§6):         VER=5 | REP | RSV=0 | ATYP | BND.ADDR | BND.PORT(2)

const (
	// Version5 is VER in every SOCKS5 message.
	Version5 = 0x05

	// MaxV5GreetingLen is the longest greeting: 255 methods.
	MaxV5GreetingLen = 2 + 255
	// MaxV5RequestLen is the longest request or reply: a 255-byte name.
	MaxV5RequestLen = 4 + 1 + MaxNameLen + 2
)

// Method is an authentication METHOD of RFC 1928 §3.
type Method uint8

const (
	MethodNoAuth       Method = 0x00 // X'00' NO AUTHENTICATION REQUIRED
	MethodGSSAPI       Method = 0x01 // X'01' GSSAPI (RFC 1961)
	MethodUserPass     Method = 0x02 // X'02' USERNAME/PASSWORD (RFC 1929)
	MethodNoAcceptable Method = 0xFF // X'FF' NO ACCEPTABLE METHODS
)

func (m Method) String() string {
	switch m {
	case MethodNoAuth:
		return "no authentication required"
	case MethodGSSAPI:
		return "GSSAPI"
	case MethodUserPass:
		return "username/password"
	case MethodNoAcceptable:
		return "no acceptable methods"
	}
	return "method(0x" + strconv.FormatUint(uint64(m), 16) + ")"
}

// V5Command is CMD in a SOCKS5 request (RFC 1928 §4).
type V5Command uint8

const (
	V5Connect      V5Command = 0x01 // CONNECT
	V5Bind         V5Command = 0x02 // BIND
	V5UDPAssociate V5Command = 0x03 // UDP ASSOCIATE
)

func (c V5Command) String() string {
	switch c {
	case V5Connect:
		return "connect"
	case V5Bind:
		return "bind"
	case V5UDPAssociate:
		return "udp associate"
	}
	return "command(0x" + strconv.FormatUint(uint64(c), 16) + ")"
}

// V5ReplyCode is REP in a SOCKS5 reply (RFC 1928 §6).
type V5ReplyCode uint8

const (
	V5Succeeded               V5ReplyCode = 0x00 // succeeded
	V5GeneralFailure          V5ReplyCode = 0x01 // general SOCKS server failure
	V5NotAllowed              V5ReplyCode = 0x02 // connection not allowed by ruleset
	V5NetworkUnreachable      V5ReplyCode = 0x03 // Network unreachable
	V5HostUnreachable         V5ReplyCode = 0x04 // Host unreachable
	V5ConnectionRefused       V5ReplyCode = 0x05 // Connection refused
	V5TTLExpired              V5ReplyCode = 0x06 // TTL expired
	V5CommandNotSupported     V5ReplyCode = 0x07 // Command not supported
	V5AddressTypeNotSupported V5ReplyCode = 0x08 // Address type not supported
)

func (c V5ReplyCode) String() string {
	switch c {
	case V5Succeeded:
		return "succeeded"
	case V5GeneralFailure:
		return "general SOCKS server failure"
	case V5NotAllowed:
		return "connection not allowed by ruleset"
	case V5NetworkUnreachable:
		return "network unreachable"
	case V5HostUnreachable:
		return "host unreachable"
	case V5ConnectionRefused:
		return "connection refused"
	case V5TTLExpired:
		return "TTL expired"
	case V5CommandNotSupported:
		return "command not supported"
	case V5AddressTypeNotSupported:
		return "address type not supported"
	}
	return "reply code 0x" + strconv.FormatUint(uint64(c), 16)
}

// V5Greeting is the client's version identifier/method selection message
// (RFC 1928 §3).
type V5Greeting struct {
	Methods []Method // in the client's order, duplicates kept; never empty when parsed
}

// Offers reports whether the client offered method m.
func (g V5Greeting) Offers(m Method) bool {
	for _, have := range g.Methods {
		if have == m {
			return true
		}
	}
	return false
}

// ParseV5Greeting parses a SOCKS5 greeting at the start of b. VER other than
// 5 yields ErrVersion, NMETHODS of 0 ErrNoMethods.
func ParseV5Greeting(b []byte) (g V5Greeting, n int, err error) {
	if err := checkVersion(b, Version5, "VER", 2); err != nil {
		return V5Greeting{}, 0, err
	}
	count := int(b[1])
	if count == 0 {
		return V5Greeting{}, 0, fieldErr(ErrNoMethods, "NMETHODS", 0)
	}
	n = 2 + count
	if len(b) < n {
		return V5Greeting{}, 0, ErrIncomplete
	}
	g.Methods = make([]Method, count)
	for i, m := range b[2:n] {
		g.Methods[i] = Method(m)
	}
	return g, n, nil
}

// AppendV5Greeting appends a SOCKS5 greeting offering g.Methods, which must
// hold 1 to 255 methods (ErrNoMethods or ErrTooLong otherwise).
func AppendV5Greeting(b []byte, g V5Greeting) ([]byte, error) {
	if len(g.Methods) == 0 {
		return b, fieldErr(ErrNoMethods, "NMETHODS", 0)
	}
	if len(g.Methods) > 255 {
		return b, fieldErr(ErrTooLong, "METHODS", 255)
	}
	b = append(b, Version5, byte(len(g.Methods)))
	for _, m := range g.Methods {
		b = append(b, byte(m))
	}
	return b, nil
}

// ParseV5MethodChoice parses the server's METHOD selection message
// (RFC 1928 §3) at the start of b.
func ParseV5MethodChoice(b []byte) (m Method, n int, err error) {
	return parseVersionAnd[Method](b, Version5)
}

// AppendV5MethodChoice appends the server's METHOD selection message.
func AppendV5MethodChoice(b []byte, m Method) []byte {
	return append(b, Version5, byte(m))
}

// V5Request is a SOCKS5 request (RFC 1928 §4). For UDP ASSOCIATE, Dst is
// the address the client expects to send datagrams from (possibly all
// zeros); for BIND, the address of the expected peer.
type V5Request struct {
	Command V5Command
	Dst     Addr
}

// ParseV5Request parses a SOCKS5 request at the start of b. The fields are
// checked in wire order: VER (ErrVersion), CMD (ErrCommand: reply X'07'),
// RSV (ErrReserved), ATYP (ErrAddrType: reply X'08'), then a domain name
// (ErrBadName when empty or containing NUL).
func ParseV5Request(b []byte) (req V5Request, n int, err error) {
	if err := checkVersion(b, Version5, "VER", 2); err != nil {
		return V5Request{}, 0, err
	}
	req.Command = V5Command(b[1])
	switch req.Command {
	case V5Connect, V5Bind, V5UDPAssociate:
	default:
		return V5Request{}, 0, fieldErr(ErrCommand, "CMD", int(b[1]))
	}
	if len(b) < 3 {
		return V5Request{}, 0, ErrIncomplete
	}
	if b[2] != 0 {
		return V5Request{}, 0, fieldErr(ErrReserved, "RSV", int(b[2]))
	}
	if req.Dst, n, err = parseV5Addr(b, "DST.ADDR"); err != nil {
		return V5Request{}, 0, err
	}
	return req, n, nil
}

// AppendV5Request appends a SOCKS5 request. It fails with ErrCommand for an
// unknown command and with ErrInvalidAddr, ErrTooLong or ErrBadName for a
// destination the format cannot carry.
func AppendV5Request(b []byte, req V5Request) ([]byte, error) {
	switch req.Command {
	case V5Connect, V5Bind, V5UDPAssociate:
	default:
		return b, fieldErr(ErrCommand, "CMD", int(req.Command))
	}
	if _, err := v5AddrLen(req.Dst, "DST.ADDR"); err != nil {
		return b, err
	}
	b = append(b, Version5, byte(req.Command), 0)
	return appendV5Addr(b, req.Dst), nil
}

// V5Reply is a SOCKS5 reply (RFC 1928 §6). Bound is BND.ADDR/BND.PORT: the
// server's outgoing address for CONNECT, its listening address (first
// reply) or the peer's address (second reply) for BIND, and the relay's
// address for UDP ASSOCIATE.
type V5Reply struct {
	Code  V5ReplyCode
	Bound Addr // the zero Addr encodes as IPv4 0.0.0.0 with Bound.Port
}

// ParseV5Reply parses a SOCKS5 reply at the start of b. Any REP is returned
// as is; VER, RSV and ATYP are checked as in ParseV5Request.
func ParseV5Reply(b []byte) (rep V5Reply, n int, err error) {
	if err := checkVersion(b, Version5, "VER", 3); err != nil {
		return V5Reply{}, 0, err
	}
	rep.Code = V5ReplyCode(b[1])
	if b[2] != 0 {
		return V5Reply{}, 0, fieldErr(ErrReserved, "RSV", int(b[2]))
	}
	if rep.Bound, n, err = parseV5Addr(b, "BND.ADDR"); err != nil {
		return V5Reply{}, 0, err
	}
	return rep, n, nil
}

// AppendV5Reply appends a SOCKS5 reply. A zero rep.Bound (no IP, no name)
// is sent as the IPv4 address 0.0.0.0, which is what failure replies
// conventionally carry.
func AppendV5Reply(b []byte, rep V5Reply) ([]byte, error) {
	bound := rep.Bound
	if !bound.IP.IsValid() && bound.Name == "" {
		bound.IP = netip.IPv4Unspecified()
	}
	if _, err := v5AddrLen(bound, "BND.ADDR"); err != nil {
		return b, err
	}
	b = append(b, Version5, byte(rep.Code), 0)
	return appendV5Addr(b, bound), nil
}
