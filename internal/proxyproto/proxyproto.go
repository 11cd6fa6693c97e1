// Package proxyproto reads the PROXY protocol header (versions 1 and 2, as
// HAProxy's proxy-protocol.txt defines them) that a load balancer puts in
// front of a forwarded connection, so that the daemon behind it can apply
// its rules to the real client's address.
//
// It reads exactly the header's bytes and never more: the SOCKS handshake
// that follows stays on the connection, which keeps the relay on its
// zero-copy path (no buffered reader wraps the *net.TCPConn).
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
)

// v2Sig starts every version 2 header.
var v2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

const (
	v1Prefix = "PROXY "
	// V1MaxLen is the longest version 1 line, CRLF included.
	V1MaxLen = 107
	// v1MinLen is "PROXY UNKNOWN\r\n", the shortest version 1 line; every
	// version 2 header is longer (16 bytes), so this many bytes can
	// always be read before the version is known.
	v1MinLen    = 15
	v2HeaderLen = 16
)

// Errors. Every error of Parse and Read wraps ErrInvalid, except
// ErrIncomplete from Parse and I/O errors from Read.
var (
	ErrInvalid    = errors.New("invalid PROXY protocol header")
	ErrIncomplete = errors.New("incomplete PROXY protocol header")
)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Header is what a PROXY header says about the connection.
type Header struct {
	Version int // 1 or 2
	// Local is true for a version 2 LOCAL command (the balancer's own
	// health check) and for version 1 UNKNOWN or a version 2 address
	// family other than TCP over IPv4/IPv6: the connection's own
	// addresses apply, and Src and Dst are invalid.
	Local bool
	Src   netip.AddrPort // the client as the balancer saw it
	Dst   netip.AddrPort // the address the client connected to
}

// Parse decodes the header at the start of b and returns it with its
// length. When b is a valid but unfinished prefix of a header it returns
// ErrIncomplete. It never reads beyond the header.
func Parse(b []byte) (Header, int, error) {
	switch {
	case len(b) >= len(v2Sig) && bytes.Equal(b[:len(v2Sig)], v2Sig):
		return parseV2(b)
	case len(b) < len(v2Sig) && bytes.HasPrefix(v2Sig, b) && len(b) > 0 && b[0] == '\r':
		return Header{}, 0, ErrIncomplete
	case len(b) >= len(v1Prefix) && string(b[:len(v1Prefix)]) == v1Prefix:
		return parseV1(b)
	case len(b) < len(v1Prefix) && string(b) == v1Prefix[:len(b)]:
		return Header{}, 0, ErrIncomplete
	}
	return Header{}, 0, invalid("no PROXY signature")
}

func parseV1(b []byte) (Header, int, error) {
	// The line ends at its first LF, which must follow a CR: a bare LF
	// is no line end to skip over to a later CR LF, or a whole buffer
	// would be read differently from the same bytes arriving one by one.
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		if len(b) >= V1MaxLen {
			return Header{}, 0, invalid("version 1 line longer than %d bytes", V1MaxLen)
		}
		return Header{}, 0, ErrIncomplete
	}
	if b[nl-1] != '\r' { // nl > 0: b starts with the prefix
		return Header{}, 0, invalid("version 1 line ends without CR LF")
	}
	end, n := nl-1, nl+1
	if n > V1MaxLen {
		return Header{}, 0, invalid("version 1 line longer than %d bytes", V1MaxLen)
	}
	f := bytes.Split(b[len(v1Prefix):end], []byte(" "))
	h := Header{Version: 1}
	switch string(f[0]) {
	case "UNKNOWN":
		// The rest of the line is to be ignored (proxy-protocol.txt 2.1).
		h.Local = true
		return h, n, nil
	case "TCP4", "TCP6":
	default:
		return Header{}, 0, invalid("unknown version 1 protocol %q", f[0])
	}
	if len(f) != 5 {
		return Header{}, 0, invalid("version 1 line has %d fields, want 6", len(f)+1)
	}
	src, err1 := parseV1Addr(f[1], f[0][3] == '4')
	dst, err2 := parseV1Addr(f[2], f[0][3] == '4')
	sp, err3 := parseV1Port(f[3])
	dp, err4 := parseV1Port(f[4])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return Header{}, 0, err
	}
	h.Src, h.Dst = netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	return h, n, nil
}

func parseV1Addr(b []byte, want4 bool) (netip.Addr, error) {
	a, err := netip.ParseAddr(string(b))
	if err != nil || a.Zone() != "" || a.Is4() != want4 {
		return netip.Addr{}, invalid("bad address %q", b)
	}
	return a, nil
}

// parseV1Port accepts 0..65535 in decimal without a sign or leading
// zeros, as the specification requires.
func parseV1Port(b []byte) (uint16, error) {
	if len(b) == 0 || len(b) > 5 || (len(b) > 1 && b[0] == '0') {
		return 0, invalid("bad port %q", b)
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, invalid("bad port %q", b)
		}
	}
	p, err := strconv.ParseUint(string(b), 10, 16)
	if err != nil {
		return 0, invalid("bad port %q", b)
	}
	return uint16(p), nil
}

func parseV2(b []byte) (Header, int, error) {
	if len(b) < v2HeaderLen {
		return Header{}, 0, ErrIncomplete
	}
	verCmd, fam := b[12], b[13]
	if verCmd>>4 != 2 {
		return Header{}, 0, invalid("version 2 signature with version %d", verCmd>>4)
	}
	n := v2HeaderLen + int(binary.BigEndian.Uint16(b[14:16]))
	if len(b) < n {
		return Header{}, 0, ErrIncomplete
	}
	body := b[v2HeaderLen:n]
	h := Header{Version: 2}
	switch verCmd & 0xf {
	case 0: // LOCAL: the balancer speaks for itself; the body is ignored
		h.Local = true
		return h, n, nil
	case 1: // PROXY
	default:
		return Header{}, 0, invalid("unknown version 2 command %d", verCmd&0xf)
	}
	switch fam {
	case 0x11: // TCP over IPv4
		if len(body) < 12 {
			return Header{}, 0, invalid("version 2 IPv4 addresses need 12 bytes, header has %d", len(body))
		}
		h.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
	case 0x21: // TCP over IPv6
		if len(body) < 36 {
			return Header{}, 0, invalid("version 2 IPv6 addresses need 36 bytes, header has %d", len(body))
		}
		h.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), binary.BigEndian.Uint16(body[32:34]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])), binary.BigEndian.Uint16(body[34:36]))
	default:
		// UNSPEC, UDP or UNIX addresses: the specification lets the
		// receiver fall back to the connection's own addresses.
		h.Local = true
	}
	return h, n, nil
}

// Read reads one header from r, consuming exactly its bytes: the version
// 1 line is read a byte at a time after its first 15 bytes, since the data
// that follows it may already be waiting and must stay unread.
func Read(r io.Reader) (Header, error) {
	var buf [V1MaxLen]byte
	if _, err := io.ReadFull(r, buf[:v1MinLen]); err != nil {
		return Header{}, err
	}
	have := v1MinLen
	for {
		h, n, err := Parse(buf[:have])
		if err == nil {
			if n != have {
				// Parse must have been given only whole headers.
				return Header{}, invalid("header shorter than the bytes read")
			}
			return h, nil
		}
		if !errors.Is(err, ErrIncomplete) {
			return Header{}, err
		}
		if buf[0] == '\r' { // version 2: the length says how much is left
			if have < v2HeaderLen {
				if _, err := io.ReadFull(r, buf[have:v2HeaderLen]); err != nil {
					return Header{}, err
				}
				have = v2HeaderLen
				continue
			}
			need := v2HeaderLen + int(binary.BigEndian.Uint16(buf[14:16]))
			full := make([]byte, need)
			copy(full, buf[:have])
			if _, err := io.ReadFull(r, full[have:]); err != nil {
				return Header{}, err
			}
			h, _, err := Parse(full)
			return h, err
		}
		if have == len(buf) {
			return Header{}, invalid("version 1 line longer than %d bytes", V1MaxLen)
		}
		if _, err := io.ReadFull(r, buf[have:have+1]); err != nil {
			return Header{}, err
		}
		have++
	}
}

// AppendV1 appends the version 1 line for a connection from src to dst
// (both of one family; an invalid src writes UNKNOWN).
func AppendV1(b []byte, src, dst netip.AddrPort) []byte {
	if !src.IsValid() || !dst.IsValid() || src.Addr().Is4() != dst.Addr().Is4() {
		return append(b, "PROXY UNKNOWN\r\n"...)
	}
	proto := "TCP6"
	if src.Addr().Is4() {
		proto = "TCP4"
	}
	return fmt.Appendf(b, "PROXY %s %s %s %d %d\r\n", proto, src.Addr(), dst.Addr(), src.Port(), dst.Port())
}

// AppendV2 appends a version 2 PROXY header for a TCP connection from src
// to dst, or a LOCAL header when src is invalid.
func AppendV2(b []byte, src, dst netip.AddrPort) []byte {
	b = append(b, v2Sig...)
	if !src.IsValid() || !dst.IsValid() || src.Addr().Is4() != dst.Addr().Is4() {
		return append(b, 0x20, 0x00, 0, 0)
	}
	if src.Addr().Is4() {
		b = append(b, 0x21, 0x11, 0, 12)
	} else {
		b = append(b, 0x21, 0x21, 0, 36)
	}
	b = append(b, src.Addr().AsSlice()...)
	b = append(b, dst.Addr().AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}
