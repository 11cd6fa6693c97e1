package socks

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// MaxNameLen is the longest host name either protocol carries: the SOCKS5
// length octet caps it at 255, and SOCKS4a uses the same limit.
const MaxNameLen = 255

// AddrType is the SOCKS5 ATYP octet (RFC 1928 §4, §5, §6, §7).
type AddrType uint8

const (
	AddrTypeIPv4   AddrType = 0x01 // X'01': a 4-octet IPv4 address
	AddrTypeDomain AddrType = 0x03 // X'03': a length octet, then that many octets of name
	AddrTypeIPv6   AddrType = 0x04 // X'04': a 16-octet IPv6 address
)

func (t AddrType) String() string {
	switch t {
	case AddrTypeIPv4:
		return "IPv4"
	case AddrTypeDomain:
		return "domain"
	case AddrTypeIPv6:
		return "IPv6"
	}
	return "ATYP(0x" + strconv.FormatUint(uint64(t), 16) + ")"
}

// Addr is a destination or bound address as SOCKS carries it: an IP address
// or a host name, and a port. In a valid Addr exactly one of IP and Name is
// set. An IPv4 address is held in its 4-byte form (Is4), an IPv6 address in
// its 16-byte form; an IPv4-mapped IPv6 address stays what the peer sent.
type Addr struct {
	IP   netip.Addr
	Name string
	Port uint16
}

// AddrFromAddrPort returns the Addr of an IP address and port.
func AddrFromAddrPort(ap netip.AddrPort) Addr {
	return Addr{IP: ap.Addr(), Port: ap.Port()}
}

// IsName reports whether the address is a host name still to be resolved.
func (a Addr) IsName() bool { return a.Name != "" }

// IsValid reports whether exactly one of IP and Name is set.
func (a Addr) IsValid() bool { return a.IP.IsValid() != (a.Name != "") }

// AddrPort returns the IP address and port; ok is false for a name or an
// invalid Addr.
func (a Addr) AddrPort() (ap netip.AddrPort, ok bool) {
	if !a.IP.IsValid() || a.Name != "" {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a.IP, a.Port), true
}

// String returns "1.2.3.4:80", "[2001:db8::1]:80" or "host.example:80",
// the form net.Dial accepts. The name is not sanitised: it is what the
// client sent. An invalid Addr prints as "<invalid>:PORT".
func (a Addr) String() string {
	switch {
	case a.Name != "" && !a.IP.IsValid():
		return net.JoinHostPort(a.Name, strconv.Itoa(int(a.Port)))
	case a.IP.IsValid() && a.Name == "":
		return netip.AddrPortFrom(a.IP, a.Port).String()
	}
	return "<invalid>:" + strconv.Itoa(int(a.Port))
}

// v5AddrLen returns the encoded length of ATYP, address and port, checking
// that a can be encoded; field names the address field in errors.
func v5AddrLen(a Addr, field string) (int, error) {
	switch {
	case a.Name != "" && a.IP.IsValid():
		return 0, &FieldError{Err: ErrInvalidAddr, Field: "address", Reason: "has both an IP and a name"}
	case a.Name != "":
		if len(a.Name) > MaxNameLen {
			return 0, fieldErr(ErrTooLong, field, MaxNameLen)
		}
		if strings.IndexByte(a.Name, 0) >= 0 {
			return 0, &FieldError{Err: ErrBadName, Field: field, Reason: "contains a NUL byte"}
		}
		return 1 + 1 + len(a.Name) + 2, nil
	case a.IP.Is4():
		return 1 + 4 + 2, nil
	case a.IP.Is6():
		return 1 + 16 + 2, nil
	}
	return 0, &FieldError{Err: ErrInvalidAddr, Field: "address", Reason: "has neither an IP nor a name"}
}

// appendV5Addr appends ATYP, address and port of an Addr already checked
// by v5AddrLen.
func appendV5Addr(b []byte, a Addr) []byte {
	switch {
	case a.Name != "":
		b = append(b, byte(AddrTypeDomain), byte(len(a.Name)))
		b = append(b, a.Name...)
	case a.IP.Is4():
		ip := a.IP.As4()
		b = append(b, byte(AddrTypeIPv4))
		b = append(b, ip[:]...)
	default:
		ip := a.IP.As16()
		b = append(b, byte(AddrTypeIPv6))
		b = append(b, ip[:]...)
	}
	return binary.BigEndian.AppendUint16(b, a.Port)
}

// v5HeadLen is the length of the head in front of the address of a SOCKS5
// request, reply or UDP header: VER CMD RSV, VER REP RSV, or RSV RSV FRAG.
const v5HeadLen = 3

// parseV5Addr parses ATYP, address and port after the three-octet head at
// the start of b, which the caller has checked; n counts the head. field
// names the address field in errors (DST.ADDR or BND.ADDR).
func parseV5Addr(whole []byte, field string) (a Addr, n int, err error) {
	b := whole[v5HeadLen:]
	if len(b) < 1 {
		return Addr{}, 0, ErrIncomplete
	}
	switch AddrType(b[0]) {
	case AddrTypeIPv4:
		n = 1 + 4
		if len(b) < n+2 {
			return Addr{}, 0, ErrIncomplete
		}
		a.IP = netip.AddrFrom4([4]byte(b[1:5]))
	case AddrTypeIPv6:
		n = 1 + 16
		if len(b) < n+2 {
			return Addr{}, 0, ErrIncomplete
		}
		a.IP = netip.AddrFrom16([16]byte(b[1:17]))
	case AddrTypeDomain:
		if len(b) < 2 {
			return Addr{}, 0, ErrIncomplete
		}
		nameLen := int(b[1])
		if nameLen == 0 {
			return Addr{}, 0, &FieldError{Err: ErrBadName, Field: field, Reason: "is empty"}
		}
		n = 2 + nameLen
		if len(b) < n+2 {
			return Addr{}, 0, ErrIncomplete
		}
		name := b[2:n]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			return Addr{}, 0, &FieldError{Err: ErrBadName, Field: field, Value: i, Reason: "contains a NUL byte at offset " + strconv.Itoa(i)}
		}
		a.Name = string(name)
	default:
		return Addr{}, 0, fieldErr(ErrAddrType, "ATYP", int(b[0]))
	}
	a.Port = binary.BigEndian.Uint16(b[n:])
	return a, v5HeadLen + n + 2, nil
}
