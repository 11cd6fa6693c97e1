package server

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"

	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// The pipeline's answers are the bytes both engines send; these pin them
// for each version, so that a change to one reply shows here.
func TestAppendAnswer(t *testing.T) {
	t.Parallel()
	v4 := socks.AddrFromAddrPort(netip.MustParseAddrPort("192.0.2.7:1080"))
	v6 := socks.AddrFromAddrPort(netip.MustParseAddrPort("[2001:db8::1]:1080"))
	mapped := socks.AddrFromAddrPort(netip.MustParseAddrPort("[::ffff:192.0.2.7]:1080"))
	refused := policy.Decision{Reply4: 93, Reply5: 2}
	for _, tc := range []struct {
		name    string
		version byte
		a       answer
		bound   socks.Addr
		want    []byte
	}{
		{"v4 granted", 4, granted, v4, []byte{0, 90, 0x04, 0x38, 192, 0, 2, 7}},
		{"v4 granted, IPv6 bound is 0.0.0.0", 4, granted, v6, []byte{0, 90, 0x04, 0x38, 0, 0, 0, 0}},
		{"v4 granted, mapped bound unmapped", 4, granted, mapped, []byte{0, 90, 0x04, 0x38, 192, 0, 2, 7}},
		{"v4 granted, name bound keeps its port", 4, granted, socks.Addr{Name: "h.example", Port: 1080}, []byte{0, 90, 0x04, 0x38, 0, 0, 0, 0}},
		{"v4 refused by the rules", 4, refusal(&refused), socks.Addr{}, []byte{0, 93, 0, 0, 0, 0, 0, 0}},
		{"v4 failure", 4, failure(syscall.ECONNREFUSED), socks.Addr{}, []byte{0, 91, 0, 0, 0, 0, 0, 0}},
		{"v5 granted", 5, granted, v4, []byte{5, 0, 0, 1, 192, 0, 2, 7, 0x04, 0x38}},
		{"v5 granted IPv6", 5, granted, v6, append(append([]byte{5, 0, 0, 4}, netip.MustParseAddr("2001:db8::1").AsSlice()...), 0x04, 0x38)},
		{"v5 refused by the rules", 5, refusal(&refused), socks.Addr{}, []byte{5, 2, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"v5 connection refused", 5, failure(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), socks.Addr{}, []byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"v5 lookup failed", 5, failure(&net.DNSError{Name: "x", IsNotFound: true}), socks.Addr{}, []byte{5, 4, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"v5 proxy loop", 5, notAllowed, socks.Addr{}, []byte{5, 2, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"v5 BIND peer late", 5, acceptFailure(errors.Join(errors.New("accept"), osDeadline())), socks.Addr{}, []byte{5, 6, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"v4 BIND peer late", 4, acceptFailure(osDeadline()), socks.Addr{}, []byte{0, 91, 0, 0, 0, 0, 0, 0}},
	} {
		got := appendAnswer(nil, tc.version, tc.a, tc.bound)
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s: got % x, want % x", tc.name, got, tc.want)
		}
	}
}

func osDeadline() error {
	return &net.OpError{Op: "accept", Err: timeoutError{}}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// The server's method is its first, in its own order, that the client
// offers; none offered is 0xFF.
func TestChooseMethod(t *testing.T) {
	t.Parallel()
	s := &Server{opts: Options{Methods: []socks.Method{socks.MethodUserPass, socks.MethodNoAuth}}}
	for _, tc := range []struct {
		offers []socks.Method
		want   socks.Method
	}{
		{[]socks.Method{socks.MethodNoAuth}, socks.MethodNoAuth},
		{[]socks.Method{socks.MethodNoAuth, socks.MethodUserPass}, socks.MethodUserPass},
		{[]socks.Method{0x01}, socks.MethodNoAcceptable},
	} {
		if got := s.chooseMethod(socks.V5Greeting{Methods: tc.offers}); got != tc.want {
			t.Errorf("offers %v: got %v, want %v", tc.offers, got, tc.want)
		}
	}
}

// requestLog names the destination as the client gave it, and none for
// an unspecified address (a BIND that names no peer).
func TestRequestLog(t *testing.T) {
	t.Parallel()
	ss := &session{s: &Server{}, src: netip.MustParseAddrPort("192.0.2.1:4000")}
	for _, tc := range []struct {
		r       request
		cmd     string
		dst     string
		service string
	}{
		{request{cmd: policy.CmdConnect, dst: socks.Addr{IP: netip.MustParseAddr("198.51.100.2"), Port: 80}, user: "u"}, "Connect", "198.51.100.2", "80"},
		{request{cmd: policy.CmdConnect, dst: socks.Addr{Name: "h.example", Port: 443}}, "Connect", "h.example", "443"},
		{request{cmd: policy.CmdBind, dst: socks.Addr{IP: netip.IPv4Unspecified(), Port: 21}}, "Bind", "", "21"},
	} {
		lr := ss.requestLog(tc.r)
		if lr.Command != tc.cmd || lr.Dst != tc.dst || lr.Service != tc.service || lr.Src != "192.0.2.1" || lr.User != tc.r.user {
			t.Errorf("%+v: got %+v", tc.r, lr)
		}
	}
}
