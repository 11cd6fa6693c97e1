package socks

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
)

// SOCKS4 and SOCKS4a wire format ("SOCKS: A protocol for TCP proxy across
// firewalls" and "SOCKS 4A: A Simple Extension to SOCKS 4 Protocol"):
//
//	request: VN=4 | CD | DSTPORT(2) | DSTIP(4) | USERID | NUL [ | HOSTNAME | NUL ]
//	reply:   VN=0 | CD | DSTPORT(2) | DSTIP(4)
//
// The HOSTNAME part is present exactly when DSTIP is 0.0.0.x with x != 0.

const (
	// Version4 is VN in a SOCKS4 request.
	Version4 = 0x04
	// V4ReplyVersion is VN in a SOCKS4 reply: the protocol text fixes it at
	// 0, not 4.
	V4ReplyVersion = 0x00

	// MaxV4UserIDLen is the longest USERID accepted, without its NUL.
	// 4.3 kept at most 127 bytes (NAMELEN 128) and silently truncated the
	// rest. Truncation would make rules and identd checks compare an id the
	// client never claimed, so this implementation keeps the whole id and
	// raises the limit to 255, the same as a SOCKS5 (RFC 1929) user name,
	// so that one rule set serves both protocols; longer ids are refused
	// with ErrTooLong rather than cut.
	MaxV4UserIDLen = 255

	// V4ReplyLen is the fixed length of a SOCKS4 reply.
	V4ReplyLen = 8

	// MaxV4RequestLen is the longest SOCKS4a request: the 8-byte header,
	// USERID and host name at their limits, and their NULs.
	MaxV4RequestLen = 8 + MaxV4UserIDLen + 1 + MaxNameLen + 1
)

// V4Command is CD in a SOCKS4 request.
type V4Command uint8

const (
	V4Connect V4Command = 0x01 // CONNECT
	V4Bind    V4Command = 0x02 // BIND
)

func (c V4Command) String() string {
	switch c {
	case V4Connect:
		return "connect"
	case V4Bind:
		return "bind"
	}
	return "command(0x" + strconv.FormatUint(uint64(c), 16) + ")"
}

// V4ReplyCode is CD in a SOCKS4 reply.
type V4ReplyCode uint8

const (
	// V4Granted: request granted (90).
	V4Granted V4ReplyCode = 90
	// V4Rejected: request rejected or failed (91).
	V4Rejected V4ReplyCode = 91
	// V4NoIdentd: rejected because the server cannot connect to identd
	// on the client (92).
	V4NoIdentd V4ReplyCode = 92
	// V4IdentMismatch: rejected because the client program and identd
	// report different user-ids (93).
	V4IdentMismatch V4ReplyCode = 93
)

func (c V4ReplyCode) String() string {
	switch c {
	case V4Granted:
		return "request granted"
	case V4Rejected:
		return "request rejected or failed"
	case V4NoIdentd:
		return "rejected: cannot connect to identd on the client"
	case V4IdentMismatch:
		return "rejected: identd and client report different user-ids"
	}
	return "reply code " + strconv.Itoa(int(c))
}

// V4Request is a SOCKS4 or SOCKS4a request.
//
// Dst.IP is an IPv4 address for SOCKS4; for SOCKS4a, Dst.Name is the host
// name that followed USERID and Dst.IP is unset. The 0.0.0.x placeholder of
// a SOCKS4a request is not kept: its only meaning is "a name follows", and
// AppendV4Request always writes 0.0.0.1.
type V4Request struct {
	Command V4Command
	Dst     Addr
	UserID  string // USERID as sent, without its NUL; may be empty
}

// IsV4a reports whether the request names its destination by host name.
func (r V4Request) IsV4a() bool { return r.Dst.Name != "" }

// V4Reply is a SOCKS4 reply. For CONNECT only Code matters; for BIND, Bound
// is the address the server listens on (first reply) or the address of the
// peer that connected (second reply).
type V4Reply struct {
	Code  V4ReplyCode
	Bound Addr // an IPv4 address and port; the zero Addr encodes as 0.0.0.0:0
}

// isV4aPlaceholder reports whether DSTIP is 0.0.0.x with x != 0, the SOCKS4a
// signal that a host name follows USERID.
func isV4aPlaceholder(ip [4]byte) bool {
	return ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0
}

// ParseV4Request parses a SOCKS4 or SOCKS4a request at the start of b.
//
// A VN other than 4 yields ErrVersion, a CD other than CONNECT or BIND
// ErrCommand (4.3 closes the connection without a reply in both cases). A
// USERID or host name with no NUL within its 255-byte limit yields
// ErrTooLong, so a client cannot make the server wait for ever; an empty
// SOCKS4a host name yields ErrBadName.
func ParseV4Request(b []byte) (req V4Request, n int, err error) {
	if err := checkVersion(b, Version4, "VN", 2); err != nil {
		return V4Request{}, 0, err
	}
	req.Command = V4Command(b[1])
	if req.Command != V4Connect && req.Command != V4Bind {
		return V4Request{}, 0, fieldErr(ErrCommand, "CD", int(b[1]))
	}
	if len(b) < 8 {
		return V4Request{}, 0, ErrIncomplete
	}
	req.Dst.Port = binary.BigEndian.Uint16(b[2:4])
	ip := [4]byte(b[4:8])

	userID, userLen, err := parseNULTerminated(b[8:], MaxV4UserIDLen, "USERID")
	if err != nil {
		return V4Request{}, 0, err
	}
	n = 8 + userLen

	if !isV4aPlaceholder(ip) {
		req.Dst.IP = netip.AddrFrom4(ip)
		req.UserID = string(userID)
		return req, n, nil
	}
	name, nameLen, err := parseNULTerminated(b[n:], MaxNameLen, "HOSTNAME")
	if err != nil {
		return V4Request{}, 0, err
	}
	if len(name) == 0 {
		return V4Request{}, 0, &FieldError{Err: ErrBadName, Field: "HOSTNAME", Reason: "is empty"}
	}
	// One allocation for both fields: copy "USERID NUL HOSTNAME" and slice.
	both := string(b[8 : n+len(name)])
	req.UserID = both[:len(userID)]
	req.Dst.Name = both[userLen:]
	return req, n + nameLen, nil
}

// parseNULTerminated returns the field at the start of b up to its NUL and
// the number of bytes including the NUL.
func parseNULTerminated(b []byte, limit int, field string) ([]byte, int, error) {
	window := b
	if len(window) > limit+1 {
		window = window[:limit+1]
	}
	i := bytes.IndexByte(window, 0)
	if i < 0 {
		if len(b) > limit {
			return nil, 0, fieldErr(ErrTooLong, field, limit)
		}
		return nil, 0, ErrIncomplete
	}
	return b[:i], i + 1, nil
}

// AppendV4Request appends a SOCKS4 request, or a SOCKS4a request when
// req.Dst is a name. It fails with ErrInvalidAddr for an IPv6 destination
// (SOCKS4 cannot carry one: send it by name or use SOCKS5) or for an IPv4
// destination of the form 0.0.0.x with x != 0 (a server would read it as
// the SOCKS4a placeholder), with ErrTooLong for an over-long USERID or name,
// and with ErrBadName or ErrCommand for a NUL in a field or an unknown
// command.
func AppendV4Request(b []byte, req V4Request) ([]byte, error) {
	if req.Command != V4Connect && req.Command != V4Bind {
		return b, fieldErr(ErrCommand, "CD", int(req.Command))
	}
	if len(req.UserID) > MaxV4UserIDLen {
		return b, fieldErr(ErrTooLong, "USERID", MaxV4UserIDLen)
	}
	if strings.IndexByte(req.UserID, 0) >= 0 {
		return b, &FieldError{Err: ErrBadName, Field: "USERID", Reason: "contains a NUL byte"}
	}
	var ip [4]byte
	switch d := req.Dst; {
	case d.Name != "" && d.IP.IsValid():
		return b, &FieldError{Err: ErrInvalidAddr, Field: "DSTIP", Reason: "has both an IP and a name"}
	case d.Name != "":
		if len(d.Name) > MaxNameLen {
			return b, fieldErr(ErrTooLong, "HOSTNAME", MaxNameLen)
		}
		if strings.IndexByte(d.Name, 0) >= 0 {
			return b, &FieldError{Err: ErrBadName, Field: "HOSTNAME", Reason: "contains a NUL byte"}
		}
		ip = [4]byte{0, 0, 0, 1}
	case d.IP.Is4():
		ip = d.IP.As4()
		if isV4aPlaceholder(ip) {
			return b, &FieldError{Err: ErrInvalidAddr, Field: "DSTIP", Reason: "0.0.0.x is the SOCKS4a placeholder"}
		}
	default:
		return b, &FieldError{Err: ErrInvalidAddr, Field: "DSTIP", Reason: "is not an IPv4 address"}
	}
	b = append(b, Version4, byte(req.Command))
	b = binary.BigEndian.AppendUint16(b, req.Dst.Port)
	b = append(b, ip[:]...)
	b = append(b, req.UserID...)
	b = append(b, 0)
	if req.Dst.Name != "" {
		b = append(b, req.Dst.Name...)
		b = append(b, 0)
	}
	return b, nil
}

// ParseV4Reply parses a SOCKS4 reply at the start of b. VN must be 0
// (ErrVersion otherwise). Any CD is returned as is: codes other than 90 all
// mean failure to a client.
func ParseV4Reply(b []byte) (rep V4Reply, n int, err error) {
	if err := checkVersion(b, V4ReplyVersion, "VN", V4ReplyLen); err != nil {
		return V4Reply{}, 0, err
	}
	rep.Code = V4ReplyCode(b[1])
	rep.Bound.Port = binary.BigEndian.Uint16(b[2:4])
	rep.Bound.IP = netip.AddrFrom4([4]byte(b[4:8]))
	return rep, V4ReplyLen, nil
}

// AppendV4Reply appends a SOCKS4 reply. Bound must be an IPv4 address
// (an IPv4-mapped IPv6 address is unmapped) or the zero Addr, which encodes
// as 0.0.0.0 with rep.Bound.Port; anything else fails with ErrInvalidAddr.
func AppendV4Reply(b []byte, rep V4Reply) ([]byte, error) {
	var ip [4]byte
	switch a := rep.Bound; {
	case a.Name != "":
		return b, &FieldError{Err: ErrInvalidAddr, Field: "DSTIP", Reason: "is a name; SOCKS4 replies carry IPv4 addresses only"}
	case !a.IP.IsValid():
	case a.IP.Unmap().Is4():
		ip = a.IP.Unmap().As4()
	default:
		return b, &FieldError{Err: ErrInvalidAddr, Field: "DSTIP", Reason: "is not an IPv4 address"}
	}
	b = append(b, V4ReplyVersion, byte(rep.Code))
	b = binary.BigEndian.AppendUint16(b, rep.Bound.Port)
	return append(b, ip[:]...), nil
}
