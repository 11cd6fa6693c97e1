package socks

// UDP request header (RFC 1928 §7), in front of every datagram between a
// client and the UDP relay:
//
//	RSV(2)=0 | FRAG | ATYP | DST.ADDR | DST.PORT(2) | DATA

// MaxUDPHeaderLen is the longest header: one with a 255-byte name.
const MaxUDPHeaderLen = 3 + 1 + 1 + MaxNameLen + 2

// UDPHeader is the header of a relayed datagram. Dst is the destination
// when the client sends, and the source when the relay delivers a reply.
// FRAG is always 0: fragmented datagrams are refused (ErrFragmented).
type UDPHeader struct {
	Dst Addr
}

// ParseUDPHeader parses the header at the start of datagram b; the payload
// is b[n:]. A datagram cannot grow, so ErrIncomplete here means it is
// truncated. RSV != 0 yields ErrReserved. FRAG != 0 yields ErrFragmented:
// RFC 1928 §7 lets an implementation that does not reassemble drop such
// datagrams, and this one does.
func ParseUDPHeader(b []byte) (h UDPHeader, n int, err error) {
	if len(b) < 2 {
		if len(b) == 1 && b[0] != 0 {
			return UDPHeader{}, 0, fieldErr(ErrReserved, "RSV", int(b[0])<<8)
		}
		return UDPHeader{}, 0, ErrIncomplete
	}
	if rsv := int(b[0])<<8 | int(b[1]); rsv != 0 {
		return UDPHeader{}, 0, fieldErr(ErrReserved, "RSV", rsv)
	}
	if len(b) < 3 {
		return UDPHeader{}, 0, ErrIncomplete
	}
	if b[2] != 0 {
		return UDPHeader{}, 0, fieldErr(ErrFragmented, "FRAG", int(b[2]))
	}
	if h.Dst, n, err = parseV5Addr(b, "DST.ADDR"); err != nil {
		return UDPHeader{}, 0, err
	}
	return h, n, nil
}

// AppendUDPHeader appends the header for a datagram to or from h.Dst (FRAG
// 0); the caller appends the payload. It fails with ErrInvalidAddr,
// ErrTooLong or ErrBadName for an address the format cannot carry.
func AppendUDPHeader(b []byte, h UDPHeader) ([]byte, error) {
	if _, err := v5AddrLen(h.Dst, "DST.ADDR"); err != nil {
		return b, err
	}
	b = append(b, 0, 0, 0)
	return appendV5Addr(b, h.Dst), nil
}
