package client

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/sockd/sockd/socks"
)

// The handshakes read exactly the bytes of each reply, never more: the
// destination may speak first (an SSH banner) right behind the reply, and
// those bytes must stay in the connection so that it can be handed on as a
// plain *net.TCPConn (a daemon relays it with splice).

// command is what is asked of an upstream.
type command uint8

const (
	cmdConnect command = iota + 1
	cmdBind
	cmdUDP
)

// request sends the greeting, authentication and request for cmd and dst
// to u over c, and returns the first reply's bound address.
func (u Upstream) request(c net.Conn, cmd command, dst socks.Addr) (socks.Addr, error) {
	switch u.Scheme {
	case SchemeSOCKS4, SchemeSOCKS4a:
		return u.request4(c, cmd, dst)
	case SchemeSOCKS5, SchemeSOCKS5h:
		return u.request5(c, cmd, dst)
	case SchemeHTTP:
		if cmd != cmdConnect {
			return socks.Addr{}, upstreamErr(u, "request", &ReplyError{V5: socks.V5CommandNotSupported})
		}
		return socks.Addr{}, u.connectHTTP(c, dst)
	}
	return socks.Addr{}, upstreamErr(u, "request", fmt.Errorf("unknown scheme %q", u.Scheme))
}

// second reads BIND's second reply: the address of the peer that came.
func (u Upstream) second(c net.Conn) (socks.Addr, error) {
	if u.Scheme == SchemeSOCKS4 || u.Scheme == SchemeSOCKS4a {
		return u.readReply4(c, "bind")
	}
	return u.readReply5(c, "bind")
}

func (u Upstream) request4(c net.Conn, cmd command, dst socks.Addr) (socks.Addr, error) {
	vc := socks.V4Connect
	switch cmd {
	case cmdBind:
		vc = socks.V4Bind
	case cmdUDP:
		return socks.Addr{}, upstreamErr(u, "udp associate", &ReplyError{V5: socks.V5CommandNotSupported})
	}
	if dst.IP.IsValid() {
		dst.IP = dst.IP.Unmap()
		if !dst.IP.Is4() {
			return socks.Addr{}, upstreamErr(u, "request", &ReplyError{V5: socks.V5AddressTypeNotSupported})
		}
	}
	b, err := socks.AppendV4Request(nil, socks.V4Request{Command: vc, Dst: dst, UserID: u.User})
	if err != nil {
		return socks.Addr{}, upstreamErr(u, "request", err)
	}
	if _, err := c.Write(b); err != nil {
		return socks.Addr{}, upstreamErr(u, "request", err)
	}
	return u.readReply4(c, "request")
}

func (u Upstream) readReply4(c net.Conn, op string) (socks.Addr, error) {
	var b [socks.V4ReplyLen]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return socks.Addr{}, upstreamErr(u, op, noReply(err))
	}
	rep, _, err := socks.ParseV4Reply(b[:])
	if err != nil {
		return socks.Addr{}, upstreamErr(u, op, err)
	}
	if rep.Code != socks.V4Granted {
		return socks.Addr{}, upstreamErr(u, op, &ReplyError{V4: rep.Code})
	}
	return rep.Bound, nil
}

// noReply makes a closed connection say what it means.
func noReply(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("closed the connection without a complete reply")
	}
	return err
}

func (u Upstream) request5(c net.Conn, cmd command, dst socks.Addr) (socks.Addr, error) {
	methods := []socks.Method{socks.MethodNoAuth}
	if u.User != "" || u.Password != "" {
		// With credentials, offer only username/password: a server that
		// would also take "none" must not let us skip the login silently.
		methods = []socks.Method{socks.MethodUserPass}
	}
	g, _ := socks.AppendV5Greeting(nil, socks.V5Greeting{Methods: methods})
	m, err := exchangeShort(c, g, socks.ParseV5MethodChoice)
	if err != nil {
		return socks.Addr{}, upstreamErr(u, "greeting", err)
	}
	switch m {
	case socks.MethodNoAuth:
	case socks.MethodUserPass:
		if !slices.Contains(methods, socks.MethodUserPass) {
			return socks.Addr{}, upstreamErr(u, "greeting", errors.New("chose username/password, which was not offered"))
		}
		b, err := socks.AppendUserPass(nil, socks.UserPass{Username: u.User, Password: u.Password})
		if err != nil {
			return socks.Addr{}, upstreamErr(u, "authentication", err)
		}
		st, err := exchangeShort(c, b, socks.ParseUserPassReply)
		if err != nil {
			return socks.Addr{}, upstreamErr(u, "authentication", err)
		}
		if st != socks.UserPassSuccess {
			return socks.Addr{}, upstreamErr(u, "authentication", fmt.Errorf("user %q was not accepted", u.User))
		}
	case socks.MethodNoAcceptable:
		what := "no authentication (credentials for it may be missing)"
		if methods[0] == socks.MethodUserPass {
			what = "username/password"
		}
		return socks.Addr{}, &Error{Upstream: u.String(), Op: "greeting", Code: socks.V5NotAllowed,
			Err: fmt.Errorf("accepts none of the methods offered: %s", what)}
	default:
		return socks.Addr{}, upstreamErr(u, "greeting", fmt.Errorf("chose method %v, which was not offered", m))
	}
	vc := socks.V5Connect
	switch cmd {
	case cmdBind:
		vc = socks.V5Bind
	case cmdUDP:
		vc = socks.V5UDPAssociate
	}
	b, err := socks.AppendV5Request(nil, socks.V5Request{Command: vc, Dst: dst})
	if err != nil {
		return socks.Addr{}, upstreamErr(u, "request", err)
	}
	if _, err := c.Write(b); err != nil {
		return socks.Addr{}, upstreamErr(u, "request", err)
	}
	return u.readReply5(c, "request")
}

// exchangeShort writes msg and reads the two-octet answer parse reads: the
// method choice or the RFC 1929 status.
func exchangeShort[T any](c net.Conn, msg []byte, parse func([]byte) (T, int, error)) (T, error) {
	var b [2]byte
	if _, err := c.Write(msg); err != nil {
		return *new(T), err
	}
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return *new(T), noReply(err)
	}
	v, _, err := parse(b[:])
	return v, err
}

// readReply5 reads exactly one SOCKS5 reply: 5 bytes say how long it is.
func (u Upstream) readReply5(c net.Conn, op string) (socks.Addr, error) {
	var b [socks.MaxV5RequestLen]byte
	if _, err := io.ReadFull(c, b[:5]); err != nil {
		return socks.Addr{}, upstreamErr(u, op, noReply(err))
	}
	n := 0
	switch socks.AddrType(b[3]) {
	case socks.AddrTypeIPv4:
		n = 4 + 4 + 2
	case socks.AddrTypeIPv6:
		n = 4 + 16 + 2
	case socks.AddrTypeDomain:
		n = 4 + 1 + int(b[4]) + 2
	default:
		_, _, err := socks.ParseV5Reply(b[:5])
		if err == nil {
			err = fmt.Errorf("bad address type %d in reply", b[3])
		}
		return socks.Addr{}, upstreamErr(u, op, err)
	}
	if _, err := io.ReadFull(c, b[5:n]); err != nil {
		return socks.Addr{}, upstreamErr(u, op, noReply(err))
	}
	rep, _, err := socks.ParseV5Reply(b[:n])
	if err != nil {
		return socks.Addr{}, upstreamErr(u, op, err)
	}
	if rep.Code != socks.V5Succeeded {
		return socks.Addr{}, upstreamErr(u, op, &ReplyError{V5: rep.Code})
	}
	return rep.Bound, nil
}

// maxHTTPHeader bounds an HTTP proxy's response head.
const maxHTTPHeader = 16 << 10

func (u Upstream) connectHTTP(c net.Conn, dst socks.Addr) error {
	target := dst.String()
	var req strings.Builder
	fmt.Fprintf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
	if u.User != "" || u.Password != "" {
		cred := base64.StdEncoding.EncodeToString([]byte(u.User + ":" + u.Password))
		req.WriteString("Proxy-Authorization: Basic " + cred + "\r\n")
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(c, req.String()); err != nil {
		return upstreamErr(u, "request", err)
	}
	// One byte at a time: the tunnel's first bytes may follow the head.
	var head []byte
	var one [1]byte
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if len(head) >= maxHTTPHeader {
			return upstreamErr(u, "request", errors.New("response head too long"))
		}
		if _, err := io.ReadFull(c, one[:]); err != nil {
			return upstreamErr(u, "request", noReply(err))
		}
		head = append(head, one[0])
	}
	line, _, _ := strings.Cut(string(head), "\r\n")
	proto, status, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") || len(status) < 3 {
		return upstreamErr(u, "request", fmt.Errorf("malformed response %q", line))
	}
	if status[0] != '2' {
		return upstreamErr(u, "request", &ReplyError{HTTP: status})
	}
	return nil
}

// prepare makes dst sendable to u: a name is resolved here unless u
// resolves names itself; SOCKS4 and 4a cannot carry IPv6.
func (u Upstream) prepare(dst socks.Addr, resolve func(string) (netip.Addr, error)) (socks.Addr, error) {
	if dst.IsName() && !u.ResolvesNames() {
		ip, err := resolve(dst.Name)
		if err != nil {
			return socks.Addr{}, err
		}
		dst = socks.Addr{IP: ip, Port: dst.Port}
	}
	return dst, nil
}
