package proxyproto

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Header
	}{
		{"PROXY TCP4 127.0.0.5 127.0.0.1 40000 1080\r\n", Header{Version: 1, Src: ap("127.0.0.5:40000"), Dst: ap("127.0.0.1:1080")}},
		{"PROXY TCP6 2001:db8::1 ::1 65535 0\r\n", Header{Version: 1, Src: ap("[2001:db8::1]:65535"), Dst: ap("[::1]:0")}},
		{"PROXY UNKNOWN\r\n", Header{Version: 1, Local: true}},
		{"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", Header{Version: 1, Local: true}},
		{string(AppendV2(nil, ap("10.1.2.3:5"), ap("10.0.0.1:1080"))), Header{Version: 2, Src: ap("10.1.2.3:5"), Dst: ap("10.0.0.1:1080")}},
		{string(AppendV2(nil, ap("[2001:db8::7]:5"), ap("[::1]:1080"))), Header{Version: 2, Src: ap("[2001:db8::7]:5"), Dst: ap("[::1]:1080")}},
		{string(AppendV2(nil, netip.AddrPort{}, netip.AddrPort{})), Header{Version: 2, Local: true}},
		// A UNIX-socket family is legal; its addresses mean nothing to us.
		{string(v2Sig) + "\x21\x31\x00\x04abcd", Header{Version: 2, Local: true}},
		// TLVs after the addresses are skipped.
		{string(v2Sig) + "\x21\x11\x00\x0f" + "\x7f\x00\x00\x05\x7f\x00\x00\x01\x00\x50\x04\x38" + "\x04\x00\x00", Header{Version: 2, Src: ap("127.0.0.5:80"), Dst: ap("127.0.0.1:1080")}},
	} {
		data := []byte(tc.in + "\x05\x01\x00") // a SOCKS5 greeting follows
		h, n, err := Parse(data)
		if err != nil || h != tc.want || n != len(tc.in) {
			t.Errorf("Parse(%q) = %+v, %d, %v; want %+v, %d", tc.in, h, n, err, tc.want, len(tc.in))
		}
		r := bytes.NewReader(data)
		h, err = Read(r)
		if err != nil || h != tc.want {
			t.Errorf("Read(%q) = %+v, %v", tc.in, h, err)
		}
		if rest, _ := io.ReadAll(r); string(rest) != "\x05\x01\x00" {
			t.Errorf("Read(%q) left %q, want the greeting untouched", tc.in, rest)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for _, in := range []string{
		"\x05\x01\x00",
		"GET / HTTP/1.1\r\n\r\n",
		"PROXY TCP4 127.0.0.1 127.0.0.1 1 2\n",
		// A bare LF ends the line even when a CR LF follows it (found by
		// FuzzParse: Parse skipped to the CR LF, Read stopped at the LF).
		"PROXY UNKNOWN : QQQQ\n\r\n",
		"PROXY TCP4 127.0.0.1 127.0.0.1 1 2\n\r\n",
		"PROXY TCP4 127.0.0.1 ::1 1 2\r\n",
		"PROXY TCP6 127.0.0.1 127.0.0.1 1 2\r\n",
		"PROXY TCP4 127.0.0.1 127.0.0.1 01 2\r\n",
		"PROXY TCP4 127.0.0.1 127.0.0.1 65536 2\r\n",
		"PROXY TCP4 127.0.0.1 127.0.0.1 +1 2\r\n",
		"PROXY TCP4 127.0.0.1 127.0.0.1 1\r\n",
		"PROXY TCP4 127.0.0.1  127.0.0.1 1 2\r\n",
		"PROXY UDP4 127.0.0.1 127.0.0.1 1 2\r\n",
		"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
		"PROXY TCP4 127.0.0.1 127.0.0.1 1 2 " + string(bytes.Repeat([]byte("x"), 120)) + "\r\n",
		string(v2Sig) + "\x22\x11\x00\x0c" + "123456789012", // command 2
		string(v2Sig) + "\x11\x11\x00\x0c" + "123456789012", // version 1
		string(v2Sig) + "\x21\x11\x00\x04" + "1234",         // IPv4 needs 12 bytes
		string(v2Sig) + "\x21\x21\x00\x0c" + "123456789012", // IPv6 needs 36
	} {
		if _, _, err := Parse([]byte(in)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q): err %v, want ErrInvalid", in, err)
		}
		if _, err := Read(bytes.NewReader([]byte(in + "\x05\x01\x00"))); err == nil {
			t.Errorf("Read(%q) succeeded", in)
		}
	}
}

func TestParseIncomplete(t *testing.T) {
	for _, full := range []string{
		"PROXY TCP4 127.0.0.5 127.0.0.1 40000 1080\r\n",
		string(AppendV2(nil, ap("[2001:db8::7]:5"), ap("[::1]:1080"))),
	} {
		for i := range len(full) {
			if _, _, err := Parse([]byte(full[:i])); !errors.Is(err, ErrIncomplete) {
				t.Errorf("Parse(%q): %v, want ErrIncomplete", full[:i], err)
			}
		}
		// A connection that closes in the middle of the header is an I/O error.
		if _, err := Read(bytes.NewReader([]byte(full[:len(full)-1]))); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			t.Errorf("Read of a truncated header: %v", err)
		}
	}
}

func TestAppendRoundTrip(t *testing.T) {
	for _, pair := range [][2]string{{"127.0.0.5:1", "127.0.0.1:1080"}, {"[::1]:65535", "[2001:db8::1]:443"}} {
		src, dst := ap(pair[0]), ap(pair[1])
		for v, b := range [][]byte{AppendV1(nil, src, dst), AppendV2(nil, src, dst)} {
			h, n, err := Parse(b)
			if err != nil || n != len(b) || h.Src != src || h.Dst != dst || h.Version != v+1 {
				t.Errorf("v%d %v->%v: %+v %d %v", v+1, src, dst, h, n, err)
			}
		}
	}
}

// FuzzParse: Parse never panics, never claims more bytes than it was
// given, and Read consumes exactly the bytes Parse counted.
func FuzzParse(f *testing.F) {
	f.Add([]byte("PROXY TCP4 127.0.0.5 127.0.0.1 40000 1080\r\nrest"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(AppendV2(nil, ap("10.1.2.3:5"), ap("10.0.0.1:1080")))
	f.Add(AppendV2(nil, ap("[::1]:5"), ap("[::1]:1080")))
	f.Add(AppendV2(nil, netip.AddrPort{}, netip.AddrPort{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrIncomplete) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("length %d of %d bytes", n, len(b))
		}
		if !h.Local && (!h.Src.IsValid() || !h.Dst.IsValid()) {
			t.Fatalf("non-local header without addresses: %+v", h)
		}
		r := bytes.NewReader(b)
		h2, err := Read(r)
		if err != nil || h2 != h {
			t.Fatalf("Read = %+v, %v; Parse = %+v", h2, err, h)
		}
		if r.Len() != len(b)-n {
			t.Fatalf("Read left %d bytes, Parse counted %d of %d", r.Len(), n, len(b))
		}
	})
}
