package socks

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// addrCmp compares netip.Addr by value inside cmp.Diff.
var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// checkMessage checks that parse reads want from wire, consumes exactly
// len(wire) bytes even when data follows, and asks for more bytes at every
// shorter length.
func checkMessage[T any](t *testing.T, parse func([]byte) (T, int, error), wire []byte, want T) {
	t.Helper()
	trailer := []byte("GET / HTTP/1.0\r\n\r\n")
	got, n, err := parse(cat(wire, trailer))
	if err != nil {
		t.Fatalf("parse(% x + trailer): %v", wire, err)
	}
	if n != len(wire) {
		t.Errorf("parse(% x + trailer) consumed %d bytes, want %d", wire, n, len(wire))
	}
	if diff := cmp.Diff(want, got, addrCmp); diff != "" {
		t.Errorf("parse(% x) mismatch (-want +got):\n%s", wire, diff)
	}
	for i := range len(wire) {
		if _, n, err := parse(wire[:i]); err != ErrIncomplete || n != 0 {
			t.Errorf("parse(first %d of %d bytes) = n %d, err %v; want 0, ErrIncomplete", i, len(wire), n, err)
		}
	}
}

// appendRefusal is a message an encoder must refuse, and the sentinel its
// error must wrap.
type appendRefusal[T any] struct {
	name string
	msg  T
	want error
}

// checkAppendRefusals checks that appendMsg, named fn, refuses each message
// with its sentinel and leaves the slice it was given as it was.
func checkAppendRefusals[T any](t *testing.T, fn string, appendMsg func([]byte, T) ([]byte, error), tests []appendRefusal[T]) {
	t.Helper()
	for _, tt := range tests {
		got, err := appendMsg([]byte("keep"), tt.msg)
		if !errors.Is(err, tt.want) || string(got) != "keep" {
			t.Errorf("%s: %s = %q, %v; want %v and the input unchanged", tt.name, fn, got, err, tt.want)
		}
	}
}

func TestV4Request(t *testing.T) {
	tests := []struct {
		name string
		wire []byte
		want V4Request
	}{
		{"connect", cat([]byte{4, 1, 0, 80, 10, 0, 0, 1}, []byte("alice\x00")),
			V4Request{Command: V4Connect, Dst: Addr{IP: ip("10.0.0.1"), Port: 80}, UserID: "alice"}},
		{"bind empty user", []byte{4, 2, 0x1f, 0x90, 192, 0, 2, 7, 0},
			V4Request{Command: V4Bind, Dst: Addr{IP: ip("192.0.2.7"), Port: 8080}}},
		{"dstip 0.0.0.0 is not 4a", []byte{4, 2, 0, 21, 0, 0, 0, 0, 'u', 0},
			V4Request{Command: V4Bind, Dst: Addr{IP: ip("0.0.0.0"), Port: 21}, UserID: "u"}},
		{"4a connect", cat([]byte{4, 1, 1, 187, 0, 0, 0, 1}, []byte("bob\x00example.com\x00")),
			V4Request{Command: V4Connect, Dst: Addr{Name: "example.com", Port: 443}, UserID: "bob"}},
		{"4a placeholder 0.0.0.255", cat([]byte{4, 2, 0, 1, 0, 0, 0, 255}, []byte("\x00h\x00")),
			V4Request{Command: V4Bind, Dst: Addr{Name: "h", Port: 1}}},
		{"odd bytes kept", cat([]byte{4, 1, 0, 1, 1, 2, 3, 4}, []byte("\xff\x1b[31m\x00")),
			V4Request{Command: V4Connect, Dst: Addr{IP: ip("1.2.3.4"), Port: 1}, UserID: "\xff\x1b[31m"}},
		{"max lengths", cat([]byte{4, 1, 0, 1, 0, 0, 0, 9}, bytes.Repeat([]byte{'u'}, 255), []byte{0}, bytes.Repeat([]byte{'h'}, 255), []byte{0}),
			V4Request{Command: V4Connect, Dst: Addr{Name: strings.Repeat("h", 255), Port: 1}, UserID: strings.Repeat("u", 255)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkMessage(t, ParseV4Request, tt.wire, tt.want)
		})
	}
	if len(tests[len(tests)-1].wire) != MaxV4RequestLen {
		t.Errorf("MaxV4RequestLen = %d, the longest request is %d bytes", MaxV4RequestLen, len(tests[len(tests)-1].wire))
	}
}

func TestV4RequestErrors(t *testing.T) {
	long := bytes.Repeat([]byte{'x'}, 256)
	checkParseRefusals(t, ParseV4Request, []parseRefusal{
		{"version 5", []byte{5}, ErrVersion, "VN", 5},
		{"version 0", []byte{0, 1, 0, 80, 1, 2, 3, 4, 0}, ErrVersion, "VN", 0},
		{"command 0", []byte{4, 0}, ErrCommand, "CD", 0},
		{"command 3", []byte{4, 3, 0, 80, 1, 2, 3, 4, 0}, ErrCommand, "CD", 3},
		{"userid 256 without NUL", cat([]byte{4, 1, 0, 80, 1, 2, 3, 4}, long), ErrTooLong, "USERID", 255},
		{"userid 256 then NUL", cat([]byte{4, 1, 0, 80, 1, 2, 3, 4}, long, []byte{0}), ErrTooLong, "USERID", 255},
		{"hostname 256 without NUL", cat([]byte{4, 1, 0, 80, 0, 0, 0, 1, 0}, long), ErrTooLong, "HOSTNAME", 255},
		{"empty hostname", []byte{4, 1, 0, 80, 0, 0, 0, 1, 'u', 0, 0}, ErrBadName, "HOSTNAME", 0},
	})
}

// checkError checks that parse fails on wire with a *FieldError wrapping
// want, naming field and value.
// parseRefusal is a malformed message, the sentinel its error must wrap
// and the field and value the error must name.
type parseRefusal struct {
	name  string
	wire  []byte
	want  error
	field string
	value int
}

// checkParseRefusals runs checkError on each refusal, as a subtest.
func checkParseRefusals[T any](t *testing.T, parse func([]byte) (T, int, error), tests []parseRefusal) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkError(t, parse, tt.wire, tt.want, tt.field, tt.value)
		})
	}
}

func checkError[T any](t *testing.T, parse func([]byte) (T, int, error), wire []byte, want error, field string, value int) {
	t.Helper()
	_, n, err := parse(wire)
	if !errors.Is(err, want) {
		t.Fatalf("parse(% x) = %v, want %v", wire, err, want)
	}
	if n != 0 {
		t.Errorf("parse(% x) consumed %d bytes on error", wire, n)
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("parse(% x) error %T is not a *FieldError", wire, err)
	}
	if fe.Field != field || fe.Value != value {
		t.Errorf("parse(% x) error names %s=%d, want %s=%d", wire, fe.Field, fe.Value, field, value)
	}
	if !strings.Contains(err.Error(), field) {
		t.Errorf("error text %q does not name the field %s", err, field)
	}
}

func TestV4Reply(t *testing.T) {
	checkMessage(t, ParseV4Reply, []byte{0, 90, 0x04, 0x38, 127, 0, 0, 1},
		V4Reply{Code: V4Granted, Bound: Addr{IP: ip("127.0.0.1"), Port: 1080}})
	checkMessage(t, ParseV4Reply, []byte{0, 93, 0, 0, 0, 0, 0, 0},
		V4Reply{Code: V4IdentMismatch, Bound: Addr{IP: ip("0.0.0.0")}})
	checkMessage(t, ParseV4Reply, []byte{0, 17, 0, 0, 0, 0, 0, 0},
		V4Reply{Code: 17, Bound: Addr{IP: ip("0.0.0.0")}})
	checkError(t, ParseV4Reply, []byte{4, 90, 0, 0, 0, 0, 0, 0}, ErrVersion, "VN", 4)
}

func TestAppendV4Reply(t *testing.T) {
	tests := []struct {
		rep  V4Reply
		want []byte
	}{
		{V4Reply{Code: V4Rejected}, []byte{0, 91, 0, 0, 0, 0, 0, 0}},
		{V4Reply{Code: V4NoIdentd, Bound: Addr{Port: 7}}, []byte{0, 92, 0, 7, 0, 0, 0, 0}},
		{V4Reply{Code: V4Granted, Bound: Addr{IP: ip("::ffff:10.1.2.3"), Port: 1080}}, []byte{0, 90, 4, 56, 10, 1, 2, 3}},
	}
	for _, tt := range tests {
		got, err := AppendV4Reply([]byte{0xAA}, tt.rep)
		if err != nil || !bytes.Equal(got, cat([]byte{0xAA}, tt.want)) {
			t.Errorf("AppendV4Reply(%+v) = % x, %v; want % x", tt.rep, got, err, tt.want)
		}
	}
	for _, bad := range []Addr{{IP: ip("2001:db8::1")}, {Name: "host"}} {
		got, err := AppendV4Reply(nil, V4Reply{Code: V4Granted, Bound: bad})
		if !errors.Is(err, ErrInvalidAddr) || len(got) != 0 {
			t.Errorf("AppendV4Reply(%v) = % x, %v; want ErrInvalidAddr and nothing appended", bad, got, err)
		}
	}
}

func TestAppendV4RequestErrors(t *testing.T) {
	checkAppendRefusals(t, "AppendV4Request", AppendV4Request, []appendRefusal[V4Request]{
		{"ipv6", V4Request{Command: V4Connect, Dst: Addr{IP: ip("::1"), Port: 1}}, ErrInvalidAddr},
		{"no address", V4Request{Command: V4Connect}, ErrInvalidAddr},
		{"both", V4Request{Command: V4Connect, Dst: Addr{IP: ip("1.2.3.4"), Name: "h"}}, ErrInvalidAddr},
		{"placeholder ip", V4Request{Command: V4Connect, Dst: Addr{IP: ip("0.0.0.3")}}, ErrInvalidAddr},
		{"command", V4Request{Command: 9, Dst: Addr{IP: ip("1.2.3.4")}}, ErrCommand},
		{"long user", V4Request{Command: V4Connect, Dst: Addr{IP: ip("1.2.3.4")}, UserID: strings.Repeat("u", 256)}, ErrTooLong},
		{"long name", V4Request{Command: V4Connect, Dst: Addr{Name: strings.Repeat("h", 256)}}, ErrTooLong},
		{"NUL user", V4Request{Command: V4Connect, Dst: Addr{IP: ip("1.2.3.4")}, UserID: "a\x00b"}, ErrBadName},
		{"NUL name", V4Request{Command: V4Connect, Dst: Addr{Name: "a\x00b"}}, ErrBadName},
	})
}

func TestV5Greeting(t *testing.T) {
	checkMessage(t, ParseV5Greeting, []byte{5, 1, 0}, V5Greeting{Methods: []Method{MethodNoAuth}})
	checkMessage(t, ParseV5Greeting, []byte{5, 3, 2, 0, 2}, V5Greeting{Methods: []Method{MethodUserPass, MethodNoAuth, MethodUserPass}})
	all := make([]Method, 255)
	wire := []byte{5, 255}
	for i := range all {
		all[i] = Method(i)
		wire = append(wire, byte(i))
	}
	checkMessage(t, ParseV5Greeting, wire, V5Greeting{Methods: all})

	checkError(t, ParseV5Greeting, []byte{4, 1, 0}, ErrVersion, "VER", 4)
	checkError(t, ParseV5Greeting, []byte{5, 0}, ErrNoMethods, "NMETHODS", 0)

	g := V5Greeting{Methods: []Method{MethodGSSAPI, MethodUserPass}}
	if !g.Offers(MethodUserPass) || g.Offers(MethodNoAuth) {
		t.Errorf("Offers is wrong for %v", g.Methods)
	}
	if _, err := AppendV5Greeting(nil, V5Greeting{}); !errors.Is(err, ErrNoMethods) {
		t.Errorf("AppendV5Greeting(no methods) = %v, want ErrNoMethods", err)
	}
	if _, err := AppendV5Greeting(nil, V5Greeting{Methods: make([]Method, 256)}); !errors.Is(err, ErrTooLong) {
		t.Errorf("AppendV5Greeting(256 methods) = %v, want ErrTooLong", err)
	}
}

func TestV5MethodChoice(t *testing.T) {
	checkMessage(t, ParseV5MethodChoice, []byte{5, 0xFF}, MethodNoAcceptable)
	checkMessage(t, ParseV5MethodChoice, []byte{5, 2}, MethodUserPass)
	checkError(t, ParseV5MethodChoice, []byte{1, 0}, ErrVersion, "VER", 1)
	if got := AppendV5MethodChoice(nil, MethodNoAuth); !bytes.Equal(got, []byte{5, 0}) {
		t.Errorf("AppendV5MethodChoice = % x", got)
	}
}

func TestV5Request(t *testing.T) {
	tests := []struct {
		name string
		wire []byte
		want V5Request
	}{
		{"connect ipv4", []byte{5, 1, 0, 1, 93, 184, 216, 34, 0, 80},
			V5Request{Command: V5Connect, Dst: Addr{IP: ip("93.184.216.34"), Port: 80}}},
		{"bind ipv6", cat([]byte{5, 2, 0, 4}, ip("2001:db8::7").AsSlice(), []byte{0xff, 0xff}),
			V5Request{Command: V5Bind, Dst: Addr{IP: ip("2001:db8::7"), Port: 65535}}},
		{"mapped ipv6 stays 16 bytes", cat([]byte{5, 1, 0, 4}, ip("::ffff:1.2.3.4").AsSlice(), []byte{0, 1}),
			V5Request{Command: V5Connect, Dst: Addr{IP: ip("::ffff:1.2.3.4"), Port: 1}}},
		{"udp associate domain", cat([]byte{5, 3, 0, 3, 11}, []byte("example.org"), []byte{0, 53}),
			V5Request{Command: V5UDPAssociate, Dst: Addr{Name: "example.org", Port: 53}}},
		{"255-byte name", cat([]byte{5, 1, 0, 3, 255}, bytes.Repeat([]byte{'n'}, 255), []byte{1, 0}),
			V5Request{Command: V5Connect, Dst: Addr{Name: strings.Repeat("n", 255), Port: 256}}},
		{"odd bytes in name kept", cat([]byte{5, 1, 0, 3, 4}, []byte("a\nb\xff"), []byte{0, 1}),
			V5Request{Command: V5Connect, Dst: Addr{Name: "a\nb\xff", Port: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkMessage(t, ParseV5Request, tt.wire, tt.want)
			again, err := AppendV5Request(nil, tt.want)
			if err != nil || !bytes.Equal(again, tt.wire) {
				t.Errorf("AppendV5Request = % x, %v; want % x", again, err, tt.wire)
			}
		})
	}
}

func TestV5RequestErrors(t *testing.T) {
	checkParseRefusals(t, ParseV5Request, []parseRefusal{
		{"version 4", []byte{4}, ErrVersion, "VER", 4},
		{"command 0", []byte{5, 0}, ErrCommand, "CMD", 0},
		{"command 4", []byte{5, 4, 0, 1, 1, 2, 3, 4, 0, 80}, ErrCommand, "CMD", 4},
		{"rsv", []byte{5, 1, 1}, ErrReserved, "RSV", 1},
		{"atyp 0", []byte{5, 1, 0, 0}, ErrAddrType, "ATYP", 0},
		{"atyp 2", []byte{5, 1, 0, 2, 1, 2, 3, 4, 0, 80}, ErrAddrType, "ATYP", 2},
		{"atyp 5", []byte{5, 1, 0, 5}, ErrAddrType, "ATYP", 5},
		{"empty name", []byte{5, 1, 0, 3, 0, 0, 80}, ErrBadName, "DST.ADDR", 0},
		{"NUL in name", []byte{5, 1, 0, 3, 3, 'a', 0, 'b', 0, 80}, ErrBadName, "DST.ADDR", 1},
	})
}

func TestAppendV5RequestErrors(t *testing.T) {
	checkAppendRefusals(t, "AppendV5Request", AppendV5Request, []appendRefusal[V5Request]{
		{"no address", V5Request{Command: V5Connect}, ErrInvalidAddr},
		{"both", V5Request{Command: V5Connect, Dst: Addr{IP: ip("::1"), Name: "h"}}, ErrInvalidAddr},
		{"command", V5Request{Command: 0, Dst: Addr{IP: ip("::1")}}, ErrCommand},
		{"long name", V5Request{Command: V5Connect, Dst: Addr{Name: strings.Repeat("h", 256)}}, ErrTooLong},
		{"NUL name", V5Request{Command: V5Connect, Dst: Addr{Name: "\x00"}}, ErrBadName},
	})
}

func TestV5Reply(t *testing.T) {
	checkMessage(t, ParseV5Reply, []byte{5, 0, 0, 1, 127, 0, 0, 1, 0x04, 0x38},
		V5Reply{Code: V5Succeeded, Bound: Addr{IP: ip("127.0.0.1"), Port: 1080}})
	checkMessage(t, ParseV5Reply, cat([]byte{5, 0, 0, 3, 9}, []byte("relay.lan"), []byte{0, 1}),
		V5Reply{Code: V5Succeeded, Bound: Addr{Name: "relay.lan", Port: 1}})
	checkMessage(t, ParseV5Reply, cat([]byte{5, 9, 0, 4}, make([]byte, 16), []byte{0, 0}),
		V5Reply{Code: 9, Bound: Addr{IP: ip("::")}})
	checkError(t, ParseV5Reply, []byte{0, 90}, ErrVersion, "VER", 0)
	checkError(t, ParseV5Reply, []byte{5, 0, 7}, ErrReserved, "RSV", 7)
	checkError(t, ParseV5Reply, []byte{5, 0, 0, 9}, ErrAddrType, "ATYP", 9)
	checkError(t, ParseV5Reply, []byte{5, 0, 0, 3, 0, 0, 0}, ErrBadName, "BND.ADDR", 0)

	// Failure replies need no address: the zero Addr goes out as 0.0.0.0.
	got, err := AppendV5Reply(nil, V5Reply{Code: V5CommandNotSupported})
	if want := []byte{5, 7, 0, 1, 0, 0, 0, 0, 0, 0}; err != nil || !bytes.Equal(got, want) {
		t.Errorf("AppendV5Reply(zero address) = % x, %v; want % x", got, err, want)
	}
	if _, err := AppendV5Reply(nil, V5Reply{Bound: Addr{Name: strings.Repeat("x", 256)}}); !errors.Is(err, ErrTooLong) {
		t.Errorf("AppendV5Reply(long name) = %v, want ErrTooLong", err)
	}
}

func TestUserPass(t *testing.T) {
	checkMessage(t, ParseUserPass, cat([]byte{1, 5}, []byte("alice"), []byte{6}, []byte("s3cret")),
		UserPass{Username: "alice", Password: "s3cret"})
	checkMessage(t, ParseUserPass, cat([]byte{1, 4}, []byte("curl"), []byte{0}),
		UserPass{Username: "curl"})
	checkMessage(t, ParseUserPass, []byte{1, 0, 0}, UserPass{})
	long := strings.Repeat("p", 255)
	checkMessage(t, ParseUserPass, cat([]byte{1, 255}, []byte(long), []byte{255}, []byte(long)),
		UserPass{Username: long, Password: long})
	checkError(t, ParseUserPass, []byte{5, 1, 0}, ErrVersion, "VER", 5)

	for _, up := range []UserPass{{Username: long + "x"}, {Password: long + "x"}} {
		if got, err := AppendUserPass(nil, up); !errors.Is(err, ErrTooLong) || len(got) != 0 {
			t.Errorf("AppendUserPass(%d, %d bytes) = % x, %v; want ErrTooLong", len(up.Username), len(up.Password), got, err)
		}
	}
	secret := UserPass{Username: "alice", Password: "hunter2"}
	for _, s := range []string{secret.String(), secret.GoString()} {
		if strings.Contains(s, "hunter2") || !strings.Contains(s, "alice") {
			t.Errorf("UserPass formats as %q: must show the user and hide the password", s)
		}
	}

	checkMessage(t, ParseUserPassReply, []byte{1, 0}, UserPassSuccess)
	checkMessage(t, ParseUserPassReply, []byte{1, 0x42}, UserPassStatus(0x42))
	checkError(t, ParseUserPassReply, []byte{5, 0}, ErrVersion, "VER", 5)
	if got := AppendUserPassReply(nil, UserPassFailure); !bytes.Equal(got, []byte{1, 1}) {
		t.Errorf("AppendUserPassReply(failure) = % x", got)
	}
}

func TestUDPHeader(t *testing.T) {
	checkMessage(t, ParseUDPHeader, []byte{0, 0, 0, 1, 8, 8, 8, 8, 0, 53},
		UDPHeader{Dst: Addr{IP: ip("8.8.8.8"), Port: 53}})
	checkMessage(t, ParseUDPHeader, cat([]byte{0, 0, 0, 3, 7}, []byte("ntp.lan"), []byte{0, 123}),
		UDPHeader{Dst: Addr{Name: "ntp.lan", Port: 123}})
	checkError(t, ParseUDPHeader, []byte{0, 0, 1, 1, 8, 8, 8, 8, 0, 53}, ErrFragmented, "FRAG", 1)
	checkError(t, ParseUDPHeader, []byte{0, 0, 0x80}, ErrFragmented, "FRAG", 0x80)
	checkError(t, ParseUDPHeader, []byte{1}, ErrReserved, "RSV", 0x100)
	checkError(t, ParseUDPHeader, []byte{0, 1, 0}, ErrReserved, "RSV", 1)
	checkError(t, ParseUDPHeader, []byte{0, 0, 0, 7}, ErrAddrType, "ATYP", 7)

	payload := []byte("dns query")
	dgram, err := AppendUDPHeader(nil, UDPHeader{Dst: Addr{IP: ip("2001:db8::53"), Port: 53}})
	if err != nil {
		t.Fatal(err)
	}
	dgram = append(dgram, payload...)
	h, n, err := ParseUDPHeader(dgram)
	if err != nil || !bytes.Equal(dgram[n:], payload) || h.Dst.IP != ip("2001:db8::53") {
		t.Errorf("round trip: %+v, payload %q, %v", h, dgram[n:], err)
	}
	if _, err := AppendUDPHeader(nil, UDPHeader{}); !errors.Is(err, ErrInvalidAddr) {
		t.Errorf("AppendUDPHeader(zero) = %v, want ErrInvalidAddr", err)
	}
}

func TestAddrString(t *testing.T) {
	tests := []struct {
		a    Addr
		want string
	}{
		{Addr{IP: ip("10.1.2.3"), Port: 80}, "10.1.2.3:80"},
		{Addr{IP: ip("2001:db8::1"), Port: 443}, "[2001:db8::1]:443"},
		{Addr{Name: "example.com", Port: 8080}, "example.com:8080"},
		{Addr{Port: 1}, "<invalid>:1"},
		{Addr{IP: ip("10.1.2.3"), Name: "x", Port: 2}, "<invalid>:2"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.a, got, tt.want)
		}
	}
	a := AddrFromAddrPort(netip.MustParseAddrPort("[::1]:5"))
	if ap, ok := a.AddrPort(); !ok || ap.String() != "[::1]:5" || a.IsName() || !a.IsValid() {
		t.Errorf("AddrFromAddrPort round trip: %v %v", ap, ok)
	}
	if _, ok := (Addr{Name: "h"}).AddrPort(); ok {
		t.Error("AddrPort of a name reports ok")
	}
}

func TestStringers(t *testing.T) {
	// The names come from the protocol texts; unknown values stay readable.
	for _, tt := range []struct{ got, want string }{
		{V4Connect.String(), "connect"},
		{V4Command(7).String(), "command(0x7)"},
		{V4NoIdentd.String(), "rejected: cannot connect to identd on the client"},
		{V5AddressTypeNotSupported.String(), "address type not supported"},
		{V5ReplyCode(0x2a).String(), "reply code 0x2a"},
		{V5UDPAssociate.String(), "udp associate"},
		{MethodUserPass.String(), "username/password"},
		{AddrTypeDomain.String(), "domain"},
		{UserPassStatus(3).String(), "failure(0x3)"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
